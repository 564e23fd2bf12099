"""The worker under failure: retries, a SIGKILL mid-job, a frozen worker, SIGTERM."""

import signal

import httpx
import pytest

from tests.support.fixtures import wait_finished, wait_for


def submit(client: httpx.Client, task: str, value: object) -> str:
    response = client.post("/api/jobs", json={"task": task, "input": value})
    assert response.status_code == 202, response.text
    return response.json()["id"]


def wait_status(client: httpx.Client, job_id: str, status: str, timeout: float = 20) -> dict:
    return wait_for(
        lambda: (job := client.get(f"/api/jobs/{job_id}").json())["status"] == status and job,
        timeout,
        what=f"job {job_id} {status}",
    )


def test_health_and_metrics_port(worker) -> None:
    assert httpx.get(f"{worker.url}/healthz").json() == {"status": "ok"}
    assert "conveyor_worker_inflight_jobs" in httpx.get(f"{worker.url}/metrics").text
    assert httpx.get(f"{worker.url}/nope").status_code == 404


def test_a_failing_task_is_retried_with_backoff_then_failed(client, worker) -> None:
    job_id = submit(client, "fail", {"message": "disk on fire"})
    job = wait_finished(client, job_id)
    assert job["status"] == "failed"
    assert job["attempts"] == 3
    assert job["error"] == "RuntimeError: disk on fire"
    assert job["result"] is None
    assert worker.metric("conveyor_jobs_finished_total", task="fail", outcome="retry") == 2
    assert worker.metric("conveyor_jobs_finished_total", task="fail", outcome="failed") == 1
    # Backoff 0.2 s then 0.4 s (±20 %): the retries cannot have come sooner.
    lines = [line for line in worker.log_lines() if line.get("job_id") == job_id]
    delays = [line["retry_in"] for line in lines if line["msg"] == "job attempt failed, will retry"]
    assert len(delays) == 2 and 0.16 <= delays[0] <= 0.24 and 0.32 <= delays[1] <= 0.48


def test_sigkill_mid_job_the_job_still_finishes_once(client, start_service, clean, db) -> None:
    doomed = start_service("worker")
    job_id = submit(client, "sleep", {"seconds": 2})
    wait_status(client, job_id, "running")
    doomed.signal(signal.SIGKILL)
    doomed.wait(5)

    rescuer = start_service("worker")
    job = wait_finished(client, job_id, timeout=30)
    assert job["status"] == "succeeded" and job["result"] == {"slept": 2}
    assert job["attempts"] == 2  # the killed attempt, then the one that finished
    assert rescuer.metric("conveyor_worker_leases_expired_total") == 1
    assert rescuer.metric("conveyor_jobs_finished_total", task="sleep", outcome="succeeded") == 1


def test_a_frozen_worker_cannot_record_a_job_that_was_taken_over(client, start_service, clean) -> None:
    """Exactly-once recording: the attempt number fences out a worker that was
    presumed dead (frozen, partitioned) and comes back with a late result."""
    frozen = start_service("worker")
    job_id = submit(client, "sleep", {"seconds": 1.5})
    wait_status(client, job_id, "running")
    frozen.signal(signal.SIGSTOP)
    try:
        rescuer = start_service("worker")
        job = wait_finished(client, job_id, timeout=30)
        assert job["attempts"] == 2
    finally:
        frozen.signal(signal.SIGCONT)
    wait_for(
        lambda: frozen.metric("conveyor_jobs_finished_total", task="sleep", outcome="superseded") == 1,
        what="the late result to be refused",
    )
    after = client.get(f"/api/jobs/{job_id}").json()
    assert after == job  # untouched by the late attempt
    assert rescuer.metric("conveyor_jobs_finished_total", task="sleep", outcome="succeeded") == 1
    assert frozen.metric("conveyor_jobs_finished_total", task="sleep", outcome="succeeded") == 0


def test_sigterm_lets_the_running_job_finish(client, start_service, clean) -> None:
    worker = start_service("worker")
    job_id = submit(client, "sleep", {"seconds": 1})
    wait_status(client, job_id, "running")
    worker.signal(signal.SIGTERM)
    assert worker.wait(10) == 0
    job = client.get(f"/api/jobs/{job_id}").json()
    assert job["status"] == "succeeded" and job["attempts"] == 1


def test_sigterm_hands_back_a_job_that_would_outlast_the_grace(client, start_service, clean) -> None:
    worker = start_service("worker", WORKER_SHUTDOWN_GRACE="0.5")
    job_id = submit(client, "sleep", {"seconds": 3})
    wait_status(client, job_id, "running")
    worker.signal(signal.SIGTERM)
    assert worker.wait(10) == 0
    job = client.get(f"/api/jobs/{job_id}").json()
    assert job["status"] == "queued" and job["attempts"] == 0 and job["started_at"] is None

    start_service("worker")  # its relay puts the job back on the stream
    job = wait_finished(client, job_id, timeout=30)
    assert job["status"] == "succeeded" and job["attempts"] == 1


def test_an_outcome_waits_for_postgres_to_return(client, worker, postgres_server) -> None:
    """PostgreSQL goes away while a job runs: the worker keeps the outcome, stays
    alive and healthy, and records it once the database is back."""
    job_id = submit(client, "sleep", {"seconds": 1})
    wait_status(client, job_id, "running")
    postgres_server.stop()
    try:
        wait_for(
            lambda: "database unavailable, outcomes wait" in worker.output(),
            timeout=15,
            what="the worker to notice",
        )
        assert httpx.get(f"{worker.url}/healthz").status_code == 200
    finally:
        postgres_server.start()
    job = wait_finished(client, job_id, timeout=30)
    assert job["status"] == "succeeded" and job["attempts"] == 1
    assert worker.alive()


@pytest.mark.parametrize("workers", [2])
def test_two_workers_share_the_queue_and_run_each_job_once(client, start_service, clean, db, workers):
    running = [start_service("worker") for _ in range(workers)]
    ids = [submit(client, "uppercase", f"job {i}") for i in range(200)]
    wait_for(
        lambda: (
            db.execute("SELECT count(*) AS n FROM jobs WHERE status = 'succeeded'").fetchone()["n"]
            == len(ids)
        ),
        timeout=60,
        what="all jobs done",
    )
    attempts = db.execute("SELECT attempts, count(*) AS n FROM jobs GROUP BY attempts").fetchall()
    assert attempts == [{"attempts": 1, "n": 200}]
    done = [w.metric("conveyor_jobs_finished_total", task="uppercase", outcome="succeeded") for w in running]
    assert sum(done) == 200 and all(n > 0 for n in done), done
