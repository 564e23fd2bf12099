"""Dispatch truth: `dispatched_at` means the job's entry is on the stream, and
every path that could not put it there leaves the job to the relay at once."""

import time

import httpx
import psycopg.rows

from conveyor_core import streams
from tests.support.fixtures import wait_finished, wait_for


def dispatched_at(db, job_id: str):
    return db.execute("SELECT dispatched_at FROM jobs WHERE id = %s", (job_id,)).fetchone()["dispatched_at"]


def trip_the_breaker(client: httpx.Client) -> None:
    """While Redis does not answer, a submit fails its XADD and opens the breaker."""
    assert client.post("/api/jobs", json={"task": "uppercase", "input": "trip"}).status_code == 202


def test_dispatched_means_on_the_stream(client, db, rds) -> None:
    job_id = client.post("/api/jobs", json={"task": "uppercase", "input": "x"}).json()["id"]
    wait_for(lambda: dispatched_at(db, job_id) is not None, what="the job marked dispatched")
    assert [fields["job"] for _, fields in rds.xrange(streams.STREAM)] == [job_id]


def test_a_replay_while_the_breaker_is_open_leaves_the_job_to_the_relay(
    client, api, db, rds, redis_server, start_service
) -> None:
    """Issue case 3 without a Redis restart: the replay could not dispatch, so
    the job must not stay marked as if its entry were on the stream."""
    key = {"Idempotency-Key": "order-3"}
    job_id = client.post("/api/jobs", json={"task": "uppercase", "input": "k"}, headers=key).json()["id"]
    wait_for(lambda: dispatched_at(db, job_id) is not None, what="the job marked dispatched")
    rds.delete(streams.STREAM)  # its entry is lost
    redis_server.pause()
    try:
        trip_the_breaker(client)
    finally:
        redis_server.unpause()
    replay = client.post("/api/jobs", json={"task": "uppercase", "input": "k"}, headers=key)
    assert replay.status_code == 202 and replay.headers["idempotent-replayed"] == "true"
    assert dispatched_at(db, job_id) is None
    started = time.monotonic()
    start_service("worker")
    assert wait_finished(client, job_id, timeout=30)["status"] == "succeeded"
    print(f"\nreplayed job finished {time.monotonic() - started:.1f} s after a worker started")


def test_issue_case_3_as_written(client, api, db, rds, redis_server, start_service) -> None:
    """POST with key K, remove its entry, stop Redis and trip the breaker,
    restart Redis, POST with K again within 2 s: the job sat for 300 s."""
    key = {"Idempotency-Key": "order-k"}
    job_id = client.post("/api/jobs", json={"task": "uppercase", "input": "k"}, headers=key).json()["id"]
    wait_for(lambda: dispatched_at(db, job_id) is not None, what="the job marked dispatched")
    rds.delete(streams.STREAM)
    redis_server.stop()
    try:
        trip_the_breaker(client)
    finally:
        redis_server.start()
    assert client.post("/api/jobs", json={"task": "uppercase", "input": "k"}, headers=key).status_code == 202
    start_service("worker")
    assert wait_finished(client, job_id, timeout=30)["status"] == "succeeded"


def test_a_crash_between_insert_and_xadd_costs_seconds(client, db, start_service, dsn) -> None:
    """The row an API leaves when it dies after its INSERT, before its XADD."""
    with psycopg.connect(dsn, autocommit=True, row_factory=psycopg.rows.dict_row) as conn:
        job_id = str(
            conn.execute(
                "INSERT INTO jobs (task, input) VALUES ('uppercase', '\"orphan\"') RETURNING id"
            ).fetchone()["id"]
        )
    started = time.monotonic()
    start_service("worker")
    assert wait_finished(client, job_id, timeout=30)["status"] == "succeeded"
    # It waited for the 300 s redispatch before; now the relay's grace.
    print(f"\norphaned job finished {time.monotonic() - started:.1f} s after a worker started")
