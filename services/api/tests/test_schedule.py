"""Scheduled jobs: run_at or delay_seconds; they wait in PostgreSQL and are
dispatched by the relay when due, through a Redis outage too."""

import time
from datetime import UTC, datetime, timedelta

import httpx

from conveyor_core.schedule import MAX_DELAY_SECONDS
from tests.support.fixtures import wait_finished


def submit(client: httpx.Client, **fields: object) -> httpx.Response:
    return client.post("/api/jobs", json={"task": "uppercase", "input": "later", **fields})


def at(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_a_delay_over_the_bound_or_two_times_are_refused(client, db) -> None:
    over = submit(client, delay_seconds=MAX_DELAY_SECONDS + 1)
    assert over.status_code == 422
    assert over.json()["error"]["code"] == "invalid_request"
    assert over.json()["error"]["message"].startswith("body.delay_seconds:")
    both = submit(client, delay_seconds=5, run_at="2030-01-01T00:00:00Z")
    assert both.status_code == 422 and "not both" in both.json()["error"]["message"]
    for bad in ("tomorrow", "2030-01-01", "2030-01-01T00:00:00", 1893456000, "2030-02-30T00:00:00Z"):
        response = submit(client, run_at=bad)
        assert response.status_code == 422, bad
        assert response.json()["error"]["message"].startswith("body.run_at:"), bad
    assert db.execute("SELECT count(*) AS n FROM jobs").fetchone()["n"] == 0


def test_run_at_in_the_past_runs_now(client, worker) -> None:
    response = submit(client, run_at="2001-02-03T04:05:06+01:00")
    assert response.status_code == 202
    job = response.json()
    assert parse(job["run_at"]) == datetime(2001, 2, 3, 3, 5, 6, tzinfo=UTC)
    assert wait_finished(client, job["id"], timeout=10)["status"] == "succeeded"


def test_a_scheduled_job_waits_then_runs_at_its_time(client, worker, rds) -> None:
    run_at = datetime.now(UTC) + timedelta(seconds=2)
    job = submit(client, run_at=at(run_at)).json()
    assert job["status"] == "queued" and parse(job["run_at"]) == run_at
    assert rds.xlen("conveyor:jobs") == 0  # not on the stream before its time
    delayed = submit(client, delay_seconds=1.5).json()
    assert (parse(delayed["run_at"]) - parse(delayed["created_at"])).total_seconds() == 1.5
    for scheduled in (job, delayed):
        done = wait_finished(client, scheduled["id"], timeout=15)
        assert done["status"] == "succeeded"
        late = (parse(done["started_at"]) - parse(scheduled["run_at"])).total_seconds()
        print(f"\nscheduled job started {late:.3f} s after its time")
        assert late >= 0  # never before its time


def test_a_scheduled_job_due_during_a_redis_outage_runs_when_redis_is_back(
    client, worker, redis_server
) -> None:
    job = submit(client, delay_seconds=1).json()
    redis_server.pause()
    try:
        after = client.get(f"/api/jobs/{job['id']}").json()
        assert after["status"] == "queued"
        during = submit(client, delay_seconds=0.5)  # still accepted: PostgreSQL keeps it
        assert during.status_code == 202
        time.sleep(2.5)  # both fall due while Redis does not answer
    finally:
        redis_server.unpause()
    for scheduled in (job, during.json()):
        assert wait_finished(client, scheduled["id"], timeout=30)["status"] == "succeeded"


def test_a_canceled_scheduled_job_never_runs(client, worker) -> None:
    job = submit(client, delay_seconds=1).json()
    canceled = client.post(f"/api/jobs/{job['id']}/cancel")
    assert canceled.status_code == 200 and canceled.json()["status"] == "canceled"
    witness = submit(client, delay_seconds=1.5).json()
    assert wait_finished(client, witness["id"], timeout=15)["status"] == "succeeded"
    assert client.get(f"/api/jobs/{job['id']}").json() == canceled.json()
