"""/api/stats reads maintained counters: the same cost with 10 million jobs as
with 10, and the same numbers as counting the table."""

from conveyor_api.store import COUNTS, FINISHED_LAST_MINUTE
from tests.support.fixtures import wait_for

STATUSES = ("queued", "running", "succeeded", "failed", "canceled")


def counted(db) -> dict[str, int]:
    rows = db.execute("SELECT status, count(*) AS n FROM jobs GROUP BY status").fetchall()
    found = {row["status"]: row["n"] for row in rows}
    return {status: found.get(status, 0) for status in STATUSES}


def test_the_stats_queries_never_read_the_jobs_table(db) -> None:
    for query in (COUNTS, FINISHED_LAST_MINUTE):
        plan = "\n".join(row["QUERY PLAN"] for row in db.execute(f"EXPLAIN {query}").fetchall())
        assert " on jobs" not in plan and "job_count" in plan, plan


def test_counters_follow_inserts_updates_deletes_and_truncate(client, db) -> None:
    def stats() -> dict:
        return client.get("/api/stats").json()

    db.execute("INSERT INTO jobs (task, input) SELECT 'uppercase', '\"x\"' FROM generate_series(1, 5)")
    db.execute(
        "UPDATE jobs SET status = 'succeeded', finished_at = now() WHERE id IN (SELECT id FROM jobs LIMIT 2)"
    )
    db.execute("DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE status = 'queued' LIMIT 1)")
    assert stats()["counts"] == counted(db) == {**dict.fromkeys(STATUSES, 0), "queued": 2, "succeeded": 2}
    assert stats()["finished_last_minute"] == 2
    db.execute("SELECT fold_job_counts()")
    assert db.execute("SELECT count(*) AS n FROM job_count_deltas").fetchone()["n"] == 0
    assert stats()["counts"] == counted(db) and stats()["finished_last_minute"] == 2
    db.execute("TRUNCATE jobs")
    assert stats()["counts"] == dict.fromkeys(STATUSES, 0) and stats()["finished_last_minute"] == 0


def test_counters_agree_with_a_count_after_real_work(client, worker, db) -> None:
    jobs = [{"task": "uppercase", "input": str(i)} for i in range(150)]
    jobs += [{"task": "fail", "input": {}, "timeout_seconds": 5} for _ in range(5)]
    jobs += [{"task": "sleep", "input": {"seconds": 30}} for _ in range(3)]
    jobs += [{"task": "uppercase", "input": "later", "delay_seconds": 600} for _ in range(4)]
    items = client.post("/api/jobs/batch", json={"jobs": jobs}).json()["items"]
    for item in items[-2:]:
        client.post(f"/api/jobs/{item['id']}/cancel")

    def settled() -> bool:
        now = counted(db)
        return now["succeeded"] == 150 and now["failed"] == 5 and now["running"] == 3

    wait_for(settled, timeout=60, what="the jobs to settle")
    stats = client.get("/api/stats").json()
    assert (
        stats["counts"]
        == counted(db)
        == {
            "queued": 2,
            "running": 3,
            "succeeded": 150,
            "failed": 5,
            "canceled": 2,
        }
    )
    assert stats["finished_last_minute"] == 157
