"""No accepted job is lost or stuck: leases in PostgreSQL, whatever Redis loses."""

import signal
import time

import httpx

from tests.support.fixtures import wait_finished, wait_for

from .test_worker import submit, wait_status


def test_a_running_job_survives_its_workers_and_redis_losing_everything(
    client, start_service, clean, redis_server
) -> None:
    """Issue case 1: SIGKILL the workers of a running job, restart Redis without
    its data, start two workers: the job runs again and succeeds (it stayed
    `running` forever when its recovery hung on a Redis pending entry)."""
    doomed = [start_service("worker") for _ in range(2)]
    job_id = submit(client, "sleep", {"seconds": 20})
    wait_status(client, job_id, "running")
    for worker in doomed:
        worker.signal(signal.SIGKILL)
        worker.wait(5)
    redis_server.replace()
    started = time.monotonic()
    rescuers = [start_service("worker") for _ in range(2)]
    job = wait_finished(client, job_id, timeout=90)
    print(f"\nrunning job back and finished {time.monotonic() - started:.1f} s after the new workers started")
    assert job["status"] == "succeeded" and job["result"] == {"slept": 20}
    assert job["attempts"] == 2
    assert sum(w.metric("conveyor_worker_leases_expired_total") for w in rescuers) == 1


def test_queued_jobs_survive_a_flushall(client, start_service, clean, rds, db) -> None:
    """Jobs waiting on the stream when Redis is flushed are dispatched again at
    once (they waited for the 300 s redispatch)."""
    worker = start_service("worker", WORKER_CONCURRENCY="1")
    busy = submit(client, "sleep", {"seconds": 3})
    wait_status(client, busy, "running")
    waiting = [submit(client, "uppercase", f"w{i}") for i in range(5)]
    wait_for(
        lambda: (
            db.execute(
                "SELECT count(*) AS n FROM jobs WHERE status = 'queued' AND dispatched_at IS NOT NULL"
            ).fetchone()["n"]
            == 5
        ),
        what="the waiting jobs marked dispatched",
    )
    rds.flushall()
    for job_id in [busy, *waiting]:
        assert wait_finished(client, job_id, timeout=30)["status"] == "succeeded"
    assert worker.metric("conveyor_worker_redispatched_total") >= 5


def test_an_outage_longer_than_the_lease_does_not_rerun_jobs(
    client, start_service, clean, postgres_server, db
):
    """Issue case 10: finished-but-unrecorded jobs keep their lease; after a
    PostgreSQL outage of several lease periods nobody sweeps live workers' jobs."""
    workers = [start_service("worker") for _ in range(2)]
    ids = [submit(client, "sleep", {"seconds": 1}) for _ in range(4)]
    for job_id in ids:
        wait_status(client, job_id, "running")
    postgres_server.stop()
    try:
        time.sleep(8)  # the leases are 3 s; the jobs finished meanwhile, unrecorded
        assert all(httpx.get(f"{w.url}/healthz").status_code == 200 for w in workers)
    finally:
        postgres_server.start()
    for job_id in ids:
        job = wait_finished(client, job_id, timeout=30)
        assert job["status"] == "succeeded" and job["attempts"] == 1
    assert sum(w.metric("conveyor_worker_leases_expired_total") for w in workers) == 0
