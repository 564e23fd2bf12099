"""Timeouts end hung attempts; a worker never dies silently."""

import time
import uuid

import httpx
import psycopg
import pytest

from tests.support.fixtures import wait_finished, wait_for

from .test_worker import submit


def submit_with_timeout(client: httpx.Client, task: str, value: object, seconds: float) -> str:
    response = client.post("/api/jobs", json={"task": task, "input": value, "timeout_seconds": seconds})
    assert response.status_code == 202, response.text
    return response.json()["id"]


def test_a_hung_task_fails_with_a_timeout_while_other_jobs_run(client, worker) -> None:
    """Issue case 2: a task that never returns (it blocks its thread) is ended
    at its timeout, retried with backoff, then failed; meanwhile the worker,
    its heartbeat and its other jobs carry on."""
    started = time.monotonic()
    hung = submit_with_timeout(client, "hang", None, 1)
    for i in range(20):
        done = wait_finished(client, submit(client, "uppercase", f"meanwhile {i}"), timeout=10)
        assert done["status"] == "succeeded"
    job = wait_finished(client, hung, timeout=30)
    elapsed = time.monotonic() - started
    print(f"\nhung job failed after {elapsed:.1f} s (3 attempts of 1 s, backoff 0.2 s and 0.4 s)")
    assert job["status"] == "failed" and job["attempts"] == 3
    assert job["error"] == "timed out after 1 s"
    assert worker.metric("conveyor_jobs_timed_out_total", task="hang") == 3
    assert worker.metric("conveyor_worker_stuck_threads") == 3  # below the limit, half of 8
    assert httpx.get(f"{worker.url}/healthz").status_code == 200


def test_an_async_task_is_cancelled_at_its_timeout(client, worker) -> None:
    job = wait_finished(client, submit_with_timeout(client, "sleep", {"seconds": 30}, 0.5), timeout=30)
    assert job["status"] == "failed" and job["attempts"] == 3 and job["error"] == "timed out after 0.5 s"
    assert worker.metric("conveyor_worker_stuck_threads") == 0  # a coroutine can be stopped


def test_too_many_stuck_threads_restart_the_worker(client, start_service, clean) -> None:
    """A stuck thread cannot be freed: past the limit the worker says so and
    exits non-zero, for Docker or Kubernetes to start a fresh process."""
    worker = start_service("worker", WORKER_THREADS="2", JOB_MAX_ATTEMPTS="1")
    job_id = submit_with_timeout(client, "hang", None, 1)
    assert wait_finished(client, job_id)["error"] == "timed out after 1 s"
    wait_for(lambda: not worker.alive(), timeout=30, what="the worker to exit")
    assert worker.wait(1) == 1
    assert any(line["msg"] == "stopping with an error" for line in worker.log_lines())


def healthz(url: str) -> int | None:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code
    except httpx.TransportError:
        return None


@pytest.fixture
def broken_db(dsn: str):
    """A database of its own whose jobs table lost the column outcomes write."""
    from conveyor_core import migrate

    name = f"broken_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    with psycopg.connect(dsn.replace("dbname=conveyor", f"dbname={name}"), autocommit=True) as conn:
        migrate.apply(conn)
        # A quick job whose outcome cannot be written, and a longer one that
        # keeps the worker draining (and /healthz answering) for a while.
        conn.execute(
            "INSERT INTO jobs (task, input, created_at) VALUES"
            " ('uppercase', '\"x\"', now() - interval '1 minute'),"
            " ('sleep', '{\"seconds\": 3}', now() - interval '1 minute')"
        )
        conn.execute("ALTER TABLE jobs RENAME COLUMN error TO error_renamed")
    yield name
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE {name} WITH (FORCE)")


def test_a_loop_that_fails_unexpectedly_takes_the_worker_down(start_service, clean, broken_db) -> None:
    """Issue case 10: the record loop ended silently while /healthz stayed 200."""
    worker = start_service("worker", wait=False, POSTGRES_DB=broken_db)
    wait_for(lambda: healthz(worker.url) == 503, timeout=60, what="liveness to fail")
    assert httpx.get(f"{worker.url}/healthz").json() == {"status": "stopped", "loops": ["record"]}
    wait_for(lambda: not worker.alive(), timeout=30, what="the worker to exit")
    assert worker.wait(1) == 1
    [failed] = [line for line in worker.log_lines() if line["msg"] == "a worker loop failed"]
    assert failed["loop"] == "record" and "UndefinedColumn" in failed["exc"]
