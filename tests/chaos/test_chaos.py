"""Chaos: the promise that no accepted job is lost, stuck or recorded twice,
under faults injected while jobs flow.

Two workers and an API run as processes against their own PostgreSQL and Redis
containers (loopback only). Clients submit a steady stream of jobs, each with
an idempotency key, retrying through errors as a careful client does. Meanwhile
the test SIGKILLs a worker mid-job, FLUSHALLs Redis, replaces Redis with an
empty server, stops PostgreSQL immediately and starts it again, and SIGKILLs
and restarts the API, one fault at a time. Afterwards every job that got a 202
exists once, ended `succeeded`, and was recorded exactly once (a trigger in
the test's database counts every write of a final status).
"""

from __future__ import annotations

import random
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg
import pytest
import redis as redis_py
from psycopg.rows import dict_row

from conveyor_core import migrate
from tests.support import docker
from tests.support.fixtures import wait_for
from tests.support.processes import Service

JOBS = 400
RATE = 8.0  # submits per second, spread over 4 clients
CLIENTS = 4
FAULT_EVERY_SECONDS = 10

AUDIT = """
CREATE TABLE recorded (job_id uuid NOT NULL, attempt int NOT NULL, status text NOT NULL);
CREATE FUNCTION audit_final_status() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO recorded VALUES (NEW.id, NEW.attempts, NEW.status);
    RETURN NEW;
END $$;
CREATE TRIGGER audit_final_status AFTER UPDATE ON jobs FOR EACH ROW
    WHEN (NEW.status IN ('succeeded', 'failed')) EXECUTE FUNCTION audit_final_status();
"""


@dataclass
class Stack:
    postgres: docker.Container
    redis: docker.Container
    dsn: str
    api: Service
    workers: list[Service]

    def sql(self, query: str, *params: Any) -> list[dict[str, Any]]:
        with psycopg.connect(self.dsn, autocommit=True, row_factory=dict_row) as conn:
            return conn.execute(query, params).fetchall()


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    # Durable, since the test stops it immediately: a 202 follows a commit.
    postgres, redis = docker.postgres(durable=True).run(), docker.redis().run()
    env = {
        "POSTGRES_HOST": "127.0.0.1",
        "POSTGRES_PORT": str(postgres.host_port),
        "POSTGRES_PASSWORD": docker.POSTGRES_PASSWORD,
        "REDIS_URL": f"redis://127.0.0.1:{redis.host_port}/0",
        "REDIS_PASSWORD": docker.REDIS_PASSWORD,
        "JOB_LEASE_SECONDS": "5",
        "JOB_RETRY_BASE_SECONDS": "0.2",
        "ACCESS_LOG": "false",
    }
    dsn = (
        f"host=127.0.0.1 port={postgres.host_port} dbname=conveyor user=conveyor"
        f" password={docker.POSTGRES_PASSWORD}"
    )
    with psycopg.connect(dsn, autocommit=True) as conn:
        migrate.apply(conn)
        conn.execute(AUDIT)
    api = Service("conveyor_api", env, "API_PORT").start()
    workers = [Service("conveyor_worker", env, "WORKER_METRICS_PORT").start() for _ in range(2)]
    try:
        yield Stack(postgres, redis, dsn, api, workers)
    finally:
        for service in [api, *workers]:
            service.stop()
        postgres.remove()
        redis.remove()


@dataclass
class Load:
    """Clients submitting JOBS jobs at RATE per second, each retried with the
    same idempotency key until it is accepted."""

    url: str
    accepted: dict[str, str] = field(default_factory=dict)  # key -> job id
    retries: int = 0
    server_errors: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    def run(self) -> list[threading.Thread]:
        start = time.monotonic()
        threads = [
            threading.Thread(target=self._client, args=(k, start), daemon=True) for k in range(CLIENTS)
        ]
        for thread in threads:
            thread.start()
        return threads

    def _client(self, k: int, start: float) -> None:
        rng = random.Random(k)
        with httpx.Client(base_url=self.url, timeout=5) as http:
            for i in range(k, JOBS, CLIENTS):
                time.sleep(max(0.0, start + i / RATE - time.monotonic()))
                # Some jobs run long enough to be caught mid-run by a fault.
                if rng.random() < 0.3:
                    body = {"task": "sleep", "input": {"seconds": round(rng.uniform(0.5, 3), 2)}}
                else:
                    body = {"task": "uppercase", "input": f"job {i}"}
                self._submit(http, f"chaos-{i}", body)

    def _submit(self, http: httpx.Client, key: str, body: dict[str, Any]) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                response = http.post("/api/jobs", json=body, headers={"Idempotency-Key": key})
            except httpx.TransportError:
                response = None
            if response is not None and response.status_code == 202:
                self.accepted[key] = response.json()["id"]
                return
            if response is not None and response.status_code not in (502, 503):
                (self.server_errors if response.status_code >= 500 else self.refused).append(response.text)
                return
            self.retries += 1
            time.sleep(0.25)
        self.refused.append(f"{key}: not accepted within 120 s")


def restart(service: Service) -> str:
    """SIGKILL, then start again after a container's restart delay (1 s)."""
    started = time.monotonic()
    service.signal(signal.SIGKILL)
    service.wait(30)
    time.sleep(1)
    service.start()
    return f"healthy again {time.monotonic() - started:.1f} s after the kill"


def victim_busy(stack: Stack) -> None:
    assert stack.workers[0].proc is not None
    suffix = f"-{stack.workers[0].proc.pid}"
    wait_for(
        lambda: stack.sql("SELECT 1 FROM jobs WHERE status = 'running' AND worker LIKE %s", f"%{suffix}"),
        timeout=15,
        what="the victim worker to be running a job",
    )


def kill_a_worker_mid_job(stack: Stack) -> str:
    return restart(stack.workers[0])


def flushall(stack: Stack) -> None:
    client = redis_py.Redis(port=stack.redis.host_port, password=docker.REDIS_PASSWORD)
    client.flushall()
    client.close()


def replace_redis(stack: Stack) -> None:
    stack.redis.replace()


def stop_postgres(stack: Stack) -> None:
    stack.postgres.kill("SIGQUIT")  # PostgreSQL's immediate shutdown: no checkpoint
    time.sleep(3)
    stack.postgres.start()


def kill_the_api(stack: Stack) -> str:
    return restart(stack.api)


def ready(_: Stack) -> None:
    pass


# (what, wait until it can be done, do it)
FAULTS: list[tuple[str, Callable[[Stack], None], Callable[[Stack], str | None]]] = [
    ("worker SIGKILL mid-job", victim_busy, kill_a_worker_mid_job),
    ("redis FLUSHALL", ready, flushall),
    ("redis replaced by an empty server", ready, replace_redis),
    ("postgres immediate stop, 3 s down", ready, stop_postgres),
    ("api SIGKILL, restarted after 1 s", ready, kill_the_api),
]


def test_no_accepted_job_is_lost_stuck_or_recorded_twice(stack: Stack) -> None:
    load = Load(stack.api.url)
    clients = load.run()
    in_flight: list[tuple[str, Any, set[str], str | None]] = []
    for name, wait_until_possible, inject in FAULTS:
        time.sleep(FAULT_EVERY_SECONDS / 2)
        wait_until_possible(stack)
        jobs = {
            str(row["id"]) for row in stack.sql("SELECT id FROM jobs WHERE status IN ('queued', 'running')")
        }
        at = stack.sql("SELECT now() AS t")[0]["t"]
        note = inject(stack)
        in_flight.append((name, at, jobs, note))
        time.sleep(FAULT_EVERY_SECONDS / 2)
    for thread in clients:
        thread.join(timeout=180)
    assert load.server_errors == [] and load.refused == []
    ids = set(load.accepted.values())

    def all_done() -> bool:
        rows = stack.sql("SELECT count(*) AS n FROM jobs WHERE status IN ('succeeded', 'failed')")
        return rows[0]["n"] >= len(ids)

    try:
        wait_for(all_done, timeout=180, interval=0.5, what="every accepted job to finish")
    except AssertionError:
        unfinished = stack.sql(
            "SELECT id, status, attempts, worker, lease_until, dispatched_at, dispatch_after, created_at"
            " FROM jobs WHERE status NOT IN ('succeeded', 'failed') ORDER BY created_at"
        )
        logs = {s.log_path.name: str(s.log_path) for s in [stack.api, *stack.workers]}
        stored = {str(row["id"]) for row in stack.sql("SELECT id FROM jobs")}
        raise AssertionError(
            f"{len(unfinished)} jobs unfinished: {unfinished[:10]}; accepted but not stored:"
            f" {sorted(ids - stored)[:10]}; logs: {logs}"
        ) from None
    jobs = {str(row["id"]): row for row in stack.sql("SELECT * FROM jobs")}
    recorded = stack.sql("SELECT job_id, count(*) AS n FROM recorded GROUP BY job_id")
    reruns = sum(job["attempts"] - 1 for job in jobs.values())
    slowest = max(job["finished_at"] - job["created_at"] for job in jobs.values())
    print(
        f"\nchaos: {len(ids)} accepted ({load.retries} client retries), "
        f"{sum(j['status'] == 'succeeded' for j in jobs.values())} succeeded, "
        f"{reruns} reruns in {sum(j['attempts'] > 1 for j in jobs.values())} jobs, "
        f"slowest job {slowest.total_seconds():.1f} s from submit to result"
    )
    for name, at, flight, note in in_flight:
        done = [jobs[j]["finished_at"] for j in flight if j in jobs]
        drained = (max(done) - at).total_seconds() if done else 0.0
        extra = f"; {note}" if note else ""
        print(
            f"  {name}: the {len(flight)} jobs in flight all finished {drained:.1f} s after the fault{extra}"
        )
    assert len(jobs) == len(ids) == JOBS and set(jobs) == ids
    assert {job["status"] for job in jobs.values()} == {"succeeded"}
    assert all(job["result"] is not None for job in jobs.values())
    assert sorted(row["n"] for row in recorded) == [1] * JOBS
    assert {str(row["job_id"]) for row in recorded} == ids
