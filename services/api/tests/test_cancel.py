"""Cancel: a queued job never runs, a running one stops, a finished one is a
409, and a cancel racing a finish records exactly one outcome."""

import threading
import time
import uuid

import httpx
import pytest

from tests.support.fixtures import wait_finished, wait_for

# Every change of a job to a final status, as PostgreSQL saw it.
AUDIT = """
CREATE TABLE IF NOT EXISTS finals (job_id uuid NOT NULL, status text NOT NULL);
CREATE OR REPLACE FUNCTION audit_finals() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO finals VALUES (NEW.id, NEW.status);
    RETURN NEW;
END $$;
CREATE OR REPLACE TRIGGER audit_finals AFTER UPDATE ON jobs FOR EACH ROW
    WHEN (NEW.status IN ('succeeded', 'failed', 'canceled') AND OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION audit_finals();
TRUNCATE finals;
"""


def submit(client: httpx.Client, task: str, value: object) -> str:
    response = client.post("/api/jobs", json={"task": task, "input": value})
    assert response.status_code == 202, response.text
    return response.json()["id"]


def status_of(client: httpx.Client, job_id: str) -> str:
    return client.get(f"/api/jobs/{job_id}").json()["status"]


@pytest.fixture
def audit(db):
    db.execute(AUDIT)
    yield
    db.execute("DROP TRIGGER audit_finals ON jobs")


def test_cancel_of_an_unknown_or_malformed_id(client) -> None:
    missing = client.post(f"/api/jobs/{uuid.uuid4()}/cancel")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert client.post("/api/jobs/nope/cancel").status_code == 422


def test_a_canceled_queued_job_never_runs(client, start_service, db) -> None:
    job_id = submit(client, "uppercase", "never")
    response = client.post(f"/api/jobs/{job_id}/cancel")
    assert response.status_code == 200
    job = response.json()
    assert job["status"] == "canceled" and job["finished_at"] and job["cancel_requested_at"]
    assert job["attempts"] == 0 and job["started_at"] is None

    worker = start_service("worker")
    witness = wait_finished(client, submit(client, "uppercase", "after"))
    assert witness["status"] == "succeeded"  # the worker read the stream past the canceled job
    after = client.get(f"/api/jobs/{job_id}").json()
    assert after == job
    assert worker.metric("conveyor_jobs_finished_total", task="uppercase", outcome="succeeded") == 1

    again = client.post(f"/api/jobs/{job_id}/cancel")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "invalid_state"
    assert again.json()["error"]["details"] == {"status": "canceled"}


def test_a_running_job_stops_within_seconds_and_is_recorded_canceled(client, worker) -> None:
    job_id = submit(client, "sleep", {"seconds": 30})
    wait_for(lambda: status_of(client, job_id) == "running", what="the job to run")
    asked = time.monotonic()
    response = client.post(f"/api/jobs/{job_id}/cancel")
    assert response.status_code == 202
    assert response.json()["status"] == "running" and response.json()["cancel_requested_at"]
    job = wait_finished(client, job_id, timeout=10)
    took = time.monotonic() - asked
    print(f"\nrunning job canceled {took:.2f} s after the request")
    assert job["status"] == "canceled"
    assert job["error"] == "canceled while running (attempt 1)"
    assert job["result"] is None and job["finished_at"]
    assert worker.metric("conveyor_jobs_finished_total", task="sleep", outcome="canceled") == 1
    assert client.post(f"/api/jobs/{job_id}/cancel").status_code == 409


def test_cancel_of_a_finished_job_is_409(client, worker) -> None:
    job_id = submit(client, "uppercase", "done")
    assert wait_finished(client, job_id)["status"] == "succeeded"
    response = client.post(f"/api/jobs/{job_id}/cancel")
    assert response.status_code == 409
    assert response.json()["error"]["details"] == {"status": "succeeded"}
    assert client.get(f"/api/jobs/{job_id}").json()["status"] == "succeeded"


def test_a_cancel_racing_a_finish_records_one_outcome(client, worker, db, audit) -> None:
    """Short jobs canceled around the moment they end: each ends either
    succeeded or canceled, written once, and the answer agrees with it."""
    jobs = [submit(client, "sleep", {"seconds": 0.5 + 0.02 * i}) for i in range(40)]
    answers: dict[str, int] = {}

    def cancel(job_id: str) -> None:
        answers[job_id] = client.post(f"/api/jobs/{job_id}/cancel").status_code

    wait_for(lambda: status_of(client, jobs[-1]) == "running", interval=0.01, what="the jobs to run")
    time.sleep(0.3)
    threads = [threading.Thread(target=cancel, args=(job_id,)) for job_id in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    finals = {job_id: wait_finished(client, job_id)["status"] for job_id in jobs}
    rows = db.execute("SELECT job_id::text AS id, status FROM finals").fetchall()
    assert sorted(r["id"] for r in rows) == sorted(jobs)  # one final write per job
    for row in rows:
        assert finals[row["id"]] == row["status"]
        # 409: it had finished (succeeded); 200/202: it ends canceled, unless the
        # finish won the race with a cancel asked while it ran (202).
        if answers[row["id"]] == 409:
            assert row["status"] == "succeeded"
        elif answers[row["id"]] == 200:
            assert row["status"] == "canceled"
        else:
            assert answers[row["id"]] == 202
    outcomes = {status: list(finals.values()).count(status) for status in set(finals.values())}
    print(f"\nraced cancels: answers {sorted(answers.values())}, outcomes {outcomes}")
