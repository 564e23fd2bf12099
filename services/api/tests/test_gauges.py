"""The gauges the alerts read: the queue's oldest wait, the relay's backlog,
live workers, and whether PostgreSQL and Redis are reachable."""

from tests.support.fixtures import wait_for


def test_oldest_wait_and_relay_backlog_come_from_postgresql(api, db) -> None:
    # A job the API never put on the stream, due for a minute: the relay's work.
    db.execute(
        "INSERT INTO jobs (task, input, dispatch_after, created_at)"
        " VALUES ('uppercase', '\"x\"', now() - interval '60 seconds', now() - interval '60 seconds')"
    )
    # A retry not due yet waits for its backoff, not for a worker.
    db.execute(
        "INSERT INTO jobs (task, input, dispatch_after)"
        " VALUES ('uppercase', '\"y\"', now() + interval '1 hour')"
    )
    wait_for(lambda: api.metric("conveyor_relay_backlog") == 1, timeout=15, what="the backlog gauge")
    assert 60 <= api.metric("conveyor_queue_oldest_job_age_seconds") < 120
    assert api.metric("conveyor_workers_live") == 0


def test_an_empty_queue_has_no_wait(api, worker) -> None:
    wait_for(lambda: api.metric("conveyor_workers_live") == 1, timeout=15, what="the worker's heartbeat")
    assert api.metric("conveyor_queue_oldest_job_age_seconds") == 0
    assert api.metric("conveyor_relay_backlog") == 0


def test_dependency_gauges_follow_redis_and_postgres(api, redis_server, postgres_server) -> None:
    for dependency in ("postgres", "redis"):
        wait_for(lambda d=dependency: api.metric("conveyor_dependency_up", dependency=d) == 1, timeout=15)
    for name, server in (("redis", redis_server), ("postgres", postgres_server)):
        server.stop()
        try:
            wait_for(
                lambda n=name: api.metric("conveyor_dependency_up", dependency=n) == 0,
                timeout=20,
                what=f"{name} seen down",
            )
            other = "postgres" if name == "redis" else "redis"
            assert api.metric("conveyor_dependency_up", dependency=other) == 1
        finally:
            server.start()
        wait_for(lambda n=name: api.metric("conveyor_dependency_up", dependency=n) == 1, timeout=30)
