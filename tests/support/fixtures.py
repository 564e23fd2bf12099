"""pytest fixtures shared by the library, API and worker tests (loaded from the
root conftest.py): real servers, the services as processes, and helpers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import psycopg
import pytest
import redis as redis_py
from psycopg.rows import dict_row

from demo.wait import wait_for as poll

from . import docker
from .processes import Service

TERMINAL = {"succeeded", "failed", "canceled"}


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[docker.Container]:
    container = docker.postgres()
    try:
        yield container.run()
    finally:
        container.remove()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[docker.Container]:
    container = docker.redis()
    try:
        yield container.run()
    finally:
        container.remove()


@pytest.fixture(scope="session")
def service_env(postgres_server: docker.Container, redis_server: docker.Container) -> dict[str, str]:
    """The environment a Conveyor process gets, pointing at the test servers."""
    return {
        "POSTGRES_HOST": "127.0.0.1",
        "POSTGRES_PORT": str(postgres_server.host_port),
        "POSTGRES_PASSWORD": docker.POSTGRES_PASSWORD,
        "REDIS_URL": f"redis://127.0.0.1:{redis_server.host_port}/0",
        "REDIS_PASSWORD": docker.REDIS_PASSWORD,
        "LOG_LEVEL": "INFO",
        # Short leases and quick retries keep the failure tests short.
        "JOB_LEASE_SECONDS": "3",
        "JOB_RETRY_BASE_SECONDS": "0.2",
        "TASK_MODULES": "tests.support.tasks",
    }


@pytest.fixture(scope="session")
def dsn(service_env: dict[str, str]) -> str:
    return (
        f"host=127.0.0.1 port={service_env['POSTGRES_PORT']} dbname=conveyor user=conveyor"
        f" password={docker.POSTGRES_PASSWORD}"
    )


@pytest.fixture(scope="session")
def migrated(dsn: str) -> None:
    from conveyor_core import migrate

    with psycopg.connect(dsn, autocommit=True) as conn:
        migrate.apply(conn)


@pytest.fixture
def db(dsn: str, migrated: None) -> Iterator[psycopg.Connection[dict[str, Any]]]:
    with psycopg.connect(dsn, autocommit=True, row_factory=dict_row) as conn:
        yield conn


@pytest.fixture
def rds(redis_server: docker.Container) -> Iterator[redis_py.Redis]:
    client = redis_py.Redis(
        port=redis_server.host_port, password=docker.REDIS_PASSWORD, decode_responses=True
    )
    yield client
    client.close()


@pytest.fixture
def clean(db: psycopg.Connection[dict[str, Any]], rds: redis_py.Redis) -> None:
    """Every test starts with no jobs and an empty stream."""
    db.execute("TRUNCATE jobs")
    rds.flushall()


@pytest.fixture
def start_service(service_env: dict[str, str], migrated: None) -> Iterator[Callable[..., Service]]:
    """Start ``conveyor_api`` or ``conveyor_worker`` processes; all stop after the test."""
    started: list[Service] = []

    def start(kind: str, wait: bool = True, **env: str) -> Service:
        module, port_var = {
            "api": ("conveyor_api", "API_PORT"),
            "worker": ("conveyor_worker", "WORKER_METRICS_PORT"),
        }[kind]
        service = Service(module, {**service_env, **env}, port_var)
        started.append(service)
        return service.start(wait=wait)

    yield start
    for service in started:
        service.stop()


@pytest.fixture
def api(start_service: Callable[..., Service], clean: None) -> Service:
    return start_service("api")


@pytest.fixture
def worker(start_service: Callable[..., Service], clean: None) -> Service:
    return start_service("worker")


@pytest.fixture
def client(api: Service) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api.url, timeout=10) as c:
        yield c


def wait_for(
    predicate: Callable[[], Any], timeout: float = 20, interval: float = 0.1, what: str = "condition"
) -> Any:
    """demo.wait.wait_for with the short timeout and interval of tests on one machine."""
    return poll(predicate, timeout, interval, what)


def wait_finished(client: httpx.Client, job_id: str, timeout: float = 20) -> dict[str, Any]:
    def finished() -> dict[str, Any] | None:
        response = client.get(f"/api/jobs/{job_id}")
        if response.status_code == 503:  # the database is coming back
            return None
        job = response.json()
        return job if job["status"] in TERMINAL else None

    return wait_for(finished, timeout, what=f"job {job_id} to finish")
