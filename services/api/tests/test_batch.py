"""POST /api/jobs/batch: up to 1,000 jobs, all or nothing, one transaction and
one pipeline, an idempotency key per item."""

import httpx

from tests.support.fixtures import wait_finished, wait_for


def batch(client: httpx.Client, jobs: list[dict]) -> httpx.Response:
    return client.post("/api/jobs/batch", json={"jobs": jobs})


def count(db) -> int:
    return db.execute("SELECT count(*) AS n FROM jobs").fetchone()["n"]


def test_a_thousand_jobs_in_one_request_all_run(client, worker, db, rds) -> None:
    jobs = [{"task": "uppercase", "input": f"item {i}"} for i in range(1000)]
    jobs[7] = {"task": "sleep", "input": {"seconds": 0}, "priority": "high"}
    jobs[8] = {"task": "uppercase", "input": "later", "delay_seconds": 1}
    response = batch(client, jobs)
    assert response.status_code == 202, response.text
    items = response.json()["items"]
    assert len(items) == 1000 and count(db) == 1000
    assert items[0]["input"] == "item 0" and items[999]["input"] == "item 999"  # in order
    assert items[7]["priority"] == "high" and items[8]["run_at"] is not None
    wait_for(
        lambda: (
            db.execute("SELECT count(*) AS n FROM jobs WHERE status = 'succeeded'").fetchone()["n"] == 1000
        ),
        timeout=60,
        what="the batch to run",
    )
    assert wait_finished(client, items[999]["id"])["result"] == "ITEM 999"


def test_one_bad_item_stores_nothing_and_is_named(client, db, rds) -> None:
    good = {"task": "uppercase", "input": "fine"}
    cases = [
        ({"task": "sleep", "input": {"seconds": 61}}, "invalid_input", "body.jobs.2.input.seconds"),
        ({"task": "nope", "input": 1}, "unknown_task", "body.jobs.2"),
        ({"input": "no task"}, "invalid_request", "body.jobs.2.task"),
        (
            {"task": "uppercase", "input": "x", "delay_seconds": -1},
            "invalid_request",
            "body.jobs.2.delay_seconds",
        ),
        ({"task": "uppercase", "input": "x", "color": "red"}, "invalid_request", "body.jobs.2.color"),
        ({"task": "uppercase", "input": "a\u0000b"}, "invalid_input", "jobs.2.input"),
    ]
    for bad, code, where in cases:
        response = batch(client, [good, good, bad, good])
        assert response.status_code == 422, bad
        error = response.json()["error"]
        assert error["code"] == code, (bad, error)
        assert where in error["message"], (bad, error)
    assert batch(client, []).status_code == 422
    assert batch(client, [good] * 1001).status_code == 422
    assert count(db) == 0
    assert rds.exists("conveyor:jobs") == 0


def test_idempotency_keys_per_item(client, db) -> None:
    first = batch(client, [{"task": "uppercase", "input": "a", "idempotency_key": "a"}]).json()["items"][0]
    again = batch(
        client,
        [
            {"task": "uppercase", "input": "b", "idempotency_key": "b"},
            {"task": "uppercase", "input": "a", "idempotency_key": "a"},
        ],
    )
    assert again.status_code == 202
    assert again.json()["items"][1]["id"] == first["id"] and count(db) == 2

    conflict = batch(
        client,
        [
            {"task": "uppercase", "input": "c", "idempotency_key": "c"},
            {"task": "uppercase", "input": "not a", "idempotency_key": "a"},
        ],
    )
    assert conflict.status_code == 409
    assert conflict.json()["error"]["details"] == {"index": 1}
    assert count(db) == 2  # "c" was not stored either

    twice = batch(
        client,
        [
            {"task": "uppercase", "input": "d", "idempotency_key": "d"},
            {"task": "uppercase", "input": "d", "idempotency_key": "d"},
        ],
    )
    assert twice.status_code == 202  # one job, returned twice
    assert twice.json()["items"][0]["id"] == twice.json()["items"][1]["id"] and count(db) == 3
    other = batch(
        client,
        [
            {"task": "uppercase", "input": "e", "idempotency_key": "e"},
            {"task": "uppercase", "input": "f", "idempotency_key": "e"},
        ],
    )
    assert other.status_code == 409 and other.json()["error"]["details"] == {"index": 1}
    assert count(db) == 3


def test_a_batch_body_may_be_larger_than_a_single_submit(client) -> None:
    big = [{"task": "uppercase", "input": "x" * 50_000} for _ in range(3)]
    assert batch(client, big).status_code == 202
    huge = [{"task": "uppercase", "input": "x" * 60_000} for _ in range(80)]
    response = batch(client, huge)
    assert response.status_code == 413 and response.json()["error"]["code"] == "body_too_large"
