"""Retention: old finished jobs are deleted per status; nothing else is."""

import httpx

from tests.support.fixtures import wait_for

# (label, status, age in days of finished_at, or of created_at for unfinished jobs)
ROWS = [
    ("succeeded 8 d", "succeeded", 8),
    ("succeeded 6 d", "succeeded", 6),
    ("failed 8 d", "failed", 8),
    ("failed 31 d", "failed", 31),
    ("canceled 31 d", "canceled", 31),
    ("canceled 29 d", "canceled", 29),
    ("running 40 d", "running", 40),
    ("queued 40 d", "queued", 40),
]


def seed(db) -> None:
    for label, status, days in ROWS:
        finished = status in ("succeeded", "failed", "canceled")
        db.execute(
            "INSERT INTO jobs (task, input, status, created_at, started_at, finished_at, lease_until,"
            " dispatch_after, dispatched_at)"
            " VALUES ('uppercase', to_jsonb(%(label)s::text), %(status)s, now() - %(age)s::interval,"
            " CASE WHEN %(status)s <> 'queued' THEN now() - %(age)s::interval END,"
            " CASE WHEN %(finished)s THEN now() - %(age)s::interval END,"
            " CASE WHEN %(status)s = 'running' THEN now() + interval '1 hour' END,"
            " now() + interval '1 hour', now())",
            {"label": label, "status": status, "age": f"{days} days", "finished": finished},
        )


def left(db) -> set[str]:
    return {row["input"] for row in db.execute("SELECT input FROM jobs").fetchall()}


def deleted(worker) -> float:
    return sum(
        worker.metric("conveyor_jobs_deleted_total", status=s) for s in ("succeeded", "failed", "canceled")
    )


def test_only_finished_jobs_old_enough_are_deleted(start_service, clean, db) -> None:
    seed(db)
    worker = start_service("worker")
    wait_for(lambda: deleted(worker) == 3, what="retention to delete the old jobs")
    assert left(db) == {"succeeded 6 d", "failed 8 d", "canceled 29 d", "running 40 d", "queued 40 d"}
    assert worker.metric("conveyor_jobs_deleted_total", status="failed") == 1
    assert worker.metric("conveyor_jobs_table_bytes") > 0
    assert "conveyor_jobs_table_bytes" in httpx.get(f"{worker.url}/metrics").text


def test_retention_is_configurable_per_status(start_service, clean, db) -> None:
    seed(db)
    worker = start_service(
        "worker",
        JOB_RETENTION_SUCCEEDED_DAYS="1",
        JOB_RETENTION_FAILED_DAYS="7",
        JOB_RETENTION_CANCELED_DAYS="0.5",
    )
    wait_for(lambda: deleted(worker) == 6, what="retention to delete the old jobs")
    assert left(db) == {"running 40 d", "queued 40 d"}
