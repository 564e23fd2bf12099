"""The worker's metrics for alerts and dashboards: submit-to-finish latency,
and whether PostgreSQL and Redis are reachable."""

import httpx

from tests.support.fixtures import wait_finished, wait_for


def test_submit_to_finish_latency_is_observed_per_task_and_status(client, worker) -> None:
    for task, value in (("sleep", {"seconds": 0.5}), ("fail", {"message": "no"})):
        response = client.post("/api/jobs", json={"task": task, "input": value})
        wait_finished(client, response.json()["id"])
    assert worker.metric("conveyor_job_latency_seconds_count", task="sleep", status="succeeded") == 1
    assert worker.metric("conveyor_job_latency_seconds_sum", task="sleep", status="succeeded") >= 0.5
    # Bucket 0.25 s cannot hold a job that slept 0.5 s.
    assert (
        worker.metric("conveyor_job_latency_seconds_bucket", task="sleep", status="succeeded", le="0.25") == 0
    )
    # Retries are not outcomes yet: only the final failure is counted.
    assert worker.metric("conveyor_job_latency_seconds_count", task="fail", status="failed") == 1
    assert "job_id" not in httpx.get(f"{worker.url}/metrics").text


def test_dependency_gauges_follow_postgres(worker, postgres_server) -> None:
    wait_for(lambda: worker.metric("conveyor_dependency_up", dependency="postgres") == 1, timeout=15)
    assert worker.metric("conveyor_dependency_up", dependency="redis") == 1
    postgres_server.stop()
    try:
        wait_for(
            lambda: worker.metric("conveyor_dependency_up", dependency="postgres") == 0,
            timeout=20,
            what="PostgreSQL seen down",
        )
        assert worker.metric("conveyor_dependency_up", dependency="redis") == 1
    finally:
        postgres_server.start()
    wait_for(lambda: worker.metric("conveyor_dependency_up", dependency="postgres") == 1, timeout=30)
