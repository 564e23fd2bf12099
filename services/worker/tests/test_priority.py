"""Priorities: workers take higher levels first, and never starve the lower ones."""

import httpx

from tests.support.fixtures import wait_for


def submit_many(client: httpx.Client, n: int, priority: str) -> list[str]:
    ids = []
    for i in range(n):
        response = client.post(
            "/api/jobs", json={"task": "uppercase", "input": f"{priority} {i}", "priority": priority}
        )
        assert response.status_code == 202, response.text
        ids.append(response.json()["id"])
    return ids


def all_finished(db, n: int) -> bool:
    return db.execute("SELECT count(*) AS n FROM jobs WHERE status = 'succeeded'").fetchone()["n"] == n


def test_a_high_job_behind_a_thousand_normal_ones_starts_before_most(client, start_service, clean, db):
    normal = submit_many(client, 1000, "normal")
    [high] = submit_many(client, 1, "high")
    assert client.get(f"/api/jobs/{high}").json()["priority"] == "high"
    start_service("worker", WORKER_CONCURRENCY="8")
    wait_for(lambda: all_finished(db, 1001), timeout=120, what="every job to finish")
    before = db.execute(
        "SELECT count(*) AS n FROM jobs WHERE id = ANY(%s)"
        " AND started_at < (SELECT started_at FROM jobs WHERE id = %s)",
        (normal, high),
    ).fetchone()["n"]
    print(f"\nthe high job started after {before} of the 1,000 normal ones")
    assert before < 500


def test_a_backlog_of_high_jobs_does_not_starve_low_ones(client, start_service, clean, db):
    high = submit_many(client, 300, "high")
    low = submit_many(client, 10, "low")
    start_service("worker", WORKER_CONCURRENCY="4")
    wait_for(lambda: all_finished(db, 310), timeout=120, what="every job to finish")
    row = db.execute(
        "SELECT (SELECT max(started_at) FROM jobs WHERE id = ANY(%s)) AS last_high,"
        " (SELECT min(started_at) FROM jobs WHERE id = ANY(%s)) AS first_low",
        (high, low),
    ).fetchone()
    assert row["first_low"] < row["last_high"]  # a low job ran while high ones waited
