"""The job API's contract, against real PostgreSQL, Redis and worker processes."""

import uuid

import httpx
import orjson

from tests.support.fixtures import wait_finished


def submit(client: httpx.Client, task: str, value: object, **headers: str) -> httpx.Response:
    return client.post("/api/jobs", json={"task": task, "input": value}, headers=headers)


def test_submit_then_a_worker_runs_it(client, worker) -> None:
    response = submit(client, "uppercase", "hello")
    assert response.status_code == 202
    job = response.json()
    assert uuid.UUID(job["id"]).version == 4
    assert job["status"] == "queued" and job["attempts"] == 0 and job["result"] is None
    assert response.headers["location"] == f"/api/jobs/{job['id']}"

    done = wait_finished(client, job["id"])
    assert done["status"] == "succeeded"
    assert done["result"] == "HELLO"
    assert done["attempts"] == 1
    assert done["created_at"] <= done["started_at"] <= done["finished_at"]


def test_a_submit_answers_the_job_as_a_read_does(client) -> None:
    """Through the fast path, and through the route (an Idempotency-Key, another content type)."""
    ways = ({}, {"Idempotency-Key": "one"}, {"Content-Type": "application/json; charset=UTF-8"})
    for headers in ways:
        for fields in (
            {},
            {"delay_seconds": 60, "priority": "low"},
            {"run_at": "2001-01-01T00:00:00.5+02:00"},
        ):
            body = orjson.dumps({"task": "uppercase", "input": f"x {fields} {headers}", **fields})
            submitted = client.post(
                "/api/jobs", content=body, headers={"Content-Type": "application/json", **headers}
            )
            assert submitted.status_code == 202
            assert submitted.content == client.get(submitted.headers["location"]).content
            headers = {k: v for k, v in headers.items() if k != "Idempotency-Key"}


def test_wordcount_result_shape(client, worker) -> None:
    job = submit(client, "wordcount", "to be or not to be").json()
    result = wait_finished(client, job["id"])["result"]
    assert result == {"words": 6, "chars": 18, "top": [["to", 2], ["be", 2], ["or", 1], ["not", 1]]}


def test_idempotency_key_returns_the_same_job(client, db) -> None:
    first = submit(client, "uppercase", "once", **{"Idempotency-Key": "order-42"})
    again = submit(client, "uppercase", "once", **{"Idempotency-Key": "order-42"})
    assert first.status_code == again.status_code == 202
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"
    assert db.execute("SELECT count(*) AS n FROM jobs").fetchone()["n"] == 1


def test_idempotency_key_reused_for_another_job_conflicts(client, db) -> None:
    submit(client, "uppercase", "a", **{"Idempotency-Key": "k"})
    response = submit(client, "uppercase", "b", **{"Idempotency-Key": "k"})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_conflict"
    assert db.execute("SELECT count(*) AS n FROM jobs").fetchone()["n"] == 1


def test_unknown_and_malformed_ids(client) -> None:
    missing = client.get(f"/api/jobs/{uuid.uuid4()}")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    malformed = client.get("/api/jobs/not-a-uuid")
    assert malformed.status_code == 422
    assert malformed.json()["error"]["code"] == "invalid_request"


def test_listing_is_newest_first_with_a_stable_cursor(client) -> None:
    ids = [submit(client, "uppercase", str(i)).json()["id"] for i in range(7)]
    seen, cursor = [], None
    while True:
        params = {"limit": 3, **({"before": cursor} if cursor else {})}
        page = client.get("/api/jobs", params=params).json()
        seen += [job["id"] for job in page["items"]]
        cursor = page["next"]
        if cursor is None:
            break
        # A job submitted while paging must not shift the next page.
        submit(client, "uppercase", "late")
    assert seen == ids[::-1]


def test_listing_filters_by_status(client, worker) -> None:
    done = submit(client, "uppercase", "x").json()["id"]
    wait_finished(client, done)
    failed = client.get("/api/jobs", params={"status": "succeeded"}).json()["items"]
    assert [job["id"] for job in failed] == [done]
    assert client.get("/api/jobs", params={"status": "failed"}).json()["items"] == []
    assert client.get("/api/jobs", params={"status": "lost"}).status_code == 422


def test_listing_rejects_bad_parameters(client) -> None:
    assert client.get("/api/jobs", params={"limit": 0}).status_code == 422
    assert client.get("/api/jobs", params={"limit": 101}).status_code == 422
    bad = client.get("/api/jobs", params={"before": "garbage!"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_request"
    assert bad.json()["error"]["message"].startswith("query.before: String should match pattern")


def test_stats(client, worker) -> None:
    for text in ("a", "b"):
        wait_finished(client, submit(client, "uppercase", text).json()["id"])
    stats = client.get("/api/stats").json()
    assert stats["counts"] == {"queued": 0, "running": 0, "succeeded": 2, "failed": 0, "canceled": 0}
    assert stats["finished_last_minute"] == 2
    assert stats["queue_depth"] == 0
    assert stats["workers"] == 1
    assert stats["redis"] == "ok"


def test_metrics(client, api, worker) -> None:
    wait_finished(client, submit(client, "uppercase", "m").json()["id"])
    client.get(f"/api/jobs/{uuid.uuid4()}")
    assert api.metric("conveyor_jobs_submitted_total", task="uppercase") == 1
    assert api.metric("conveyor_http_requests_total", method="POST", route="/api/jobs", status="202") == 1
    # One series per route template, not per job id.
    assert (
        api.metric("conveyor_http_requests_total", method="GET", route="/api/jobs/{job_id}", status="404")
        == 1
    )
    assert api.metric("conveyor_http_request_duration_seconds_count", method="POST", route="/api/jobs") == 1
    assert "conveyor_queue_depth" in httpx.get(f"{api.url}/metrics").text
    assert worker.metric("conveyor_jobs_finished_total", task="uppercase", outcome="succeeded") == 1


def test_health_and_docs(client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"postgres": "ok", "redis": "ok"}}
    assert client.get("/api/docs").status_code == 200
    assert "/api/jobs" in client.get("/api/openapi.json").json()["paths"]


def test_logs_are_json_lines_with_the_job_id(client, api, worker) -> None:
    job_id = submit(client, "fail", {"message": "logged"}).json()["id"]
    wait_finished(client, job_id)
    client.get(f"/api/jobs/{job_id}")
    api_lines = api.log_lines()  # parsing fails the test on any non-JSON line
    requests = [line for line in api_lines if line["msg"] == "request"]
    submitted = [r for r in requests if r["method"] == "POST" and r["path"] == "/api/jobs"]
    assert [(r["status"], r["job_id"]) for r in submitted] == [(202, job_id)]
    assert any(r["path"] == f"/api/jobs/{job_id}" and r["status"] == 200 for r in requests)
    assert all(isinstance(r["ms"], float) for r in requests)
    assert not any(r["path"] in ("/healthz", "/readyz") for r in requests)  # probes stay quiet
    worker_lines = worker.log_lines()
    assert any(line.get("job_id") == job_id and line["msg"] == "job failed" for line in worker_lines)
