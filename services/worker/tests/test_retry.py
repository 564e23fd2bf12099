"""Retry by hand: a failed or canceled job runs again under a new attempt, one
at a time or in bulk (counted first)."""

import uuid

import httpx
import pytest

from tests.support.fixtures import wait_finished, wait_for

from .test_worker import submit


@pytest.fixture
def quick_worker(start_service, clean):
    return start_service("worker", JOB_MAX_ATTEMPTS="2")


def test_a_failed_job_runs_again_with_a_fresh_budget(client, quick_worker, db) -> None:
    job_id = submit(client, "fail", {"message": "flaky"})
    assert wait_finished(client, job_id)["attempts"] == 2
    response = client.post(f"/api/jobs/{job_id}/retry")
    assert response.status_code == 200
    job = response.json()
    assert job["status"] == "queued" and job["error"] is None and job["finished_at"] is None
    again = wait_finished(client, job_id)
    # Two more attempts (numbers 3 and 4: earlier attempts stay fenced out).
    assert again["status"] == "failed" and again["attempts"] == 4
    assert quick_worker.metric("conveyor_jobs_finished_total", task="fail", outcome="failed") == 2


def test_a_canceled_job_can_be_retried_and_then_succeeds(client, start_service, clean) -> None:
    job_id = submit(client, "uppercase", "second chance")
    assert client.post(f"/api/jobs/{job_id}/cancel").json()["status"] == "canceled"
    assert client.post(f"/api/jobs/{job_id}/retry").json()["status"] == "queued"
    start_service("worker")
    job = wait_finished(client, job_id)
    assert job["status"] == "succeeded" and job["result"] == "SECOND CHANCE" and job["attempts"] == 1


def test_retry_of_an_unknown_or_unfinished_job(client, worker) -> None:
    assert client.post(f"/api/jobs/{uuid.uuid4()}/retry").status_code == 404
    job_id = submit(client, "uppercase", "fine")
    wait_finished(client, job_id)
    refused = client.post(f"/api/jobs/{job_id}/retry")
    assert refused.status_code == 409 and refused.json()["error"]["details"] == {"status": "succeeded"}
    running = submit(client, "sleep", {"seconds": 5})
    wait_for(lambda: client.get(f"/api/jobs/{running}").json()["status"] == "running")
    assert client.post(f"/api/jobs/{running}/retry").json()["error"]["details"] == {"status": "running"}


def test_bulk_retry_counts_first_then_retries_only_what_matches(client, quick_worker, db) -> None:
    failed = [submit(client, "fail", {"message": f"incident {i}"}) for i in range(5)]
    for job_id in failed:
        wait_finished(client, job_id)
    ok = submit(client, "uppercase", "unrelated")
    wait_finished(client, ok)

    def bulk(**body: object) -> httpx.Response:
        return client.post("/api/jobs/retry", json=body)

    dry = bulk(status="failed", task="fail")
    assert dry.status_code == 200
    assert dry.json() == {"dry_run": True, "matched": 5, "retried": 0, "limit": 10_000}
    assert db.execute("SELECT count(*) AS n FROM jobs WHERE status = 'failed'").fetchone()["n"] == 5
    assert bulk(status="failed", task="uppercase").json()["matched"] == 0
    assert bulk(status="canceled").json()["matched"] == 0

    done = bulk(status="failed", task="fail", dry_run=False).json()
    assert done == {"dry_run": False, "matched": 5, "retried": 5, "limit": 10_000}
    for job_id in failed:
        assert wait_finished(client, job_id)["attempts"] == 4
    assert client.get(f"/api/jobs/{ok}").json()["attempts"] == 1  # not touched
    assert bulk(status="succeeded").status_code == 422
