"""The migration runner against a real PostgreSQL, each test on a fresh database."""

import subprocess
import sys
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from conveyor_core import migrate
from tests.support import docker


@pytest.fixture
def fresh_db(dsn: str, service_env: dict[str, str]) -> Iterator[tuple[str, dict[str, str]]]:
    name = f"migrate_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    env = {**service_env, "POSTGRES_DB": name}
    yield dsn.replace("dbname=conveyor", f"dbname={name}"), env
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE {name} WITH (FORCE)")


def run_cli(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "conveyor_core.migrate"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def versions(dsn: str) -> list[int]:
    with psycopg.connect(dsn) as conn:
        return [v for (v,) in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]


def test_applies_every_migration_once_even_when_run_twice(fresh_db) -> None:
    dsn, _ = fresh_db
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert migrate.apply(conn) == [m.version for m in migrate.available()]
        assert migrate.apply(conn) == []
    assert versions(dsn) == [m.version for m in migrate.available()]


def test_concurrent_runs_both_succeed_and_apply_once(fresh_db) -> None:
    dsn, env = fresh_db
    runs = [run_cli(env) for _ in range(3)]
    outputs = [run.communicate(timeout=60)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0, 0], outputs
    assert versions(dsn) == [m.version for m in migrate.available()]
    applied = sum(out.count('"applied migration"') for out in outputs)
    assert applied == len(migrate.available()), outputs


def test_an_edited_migration_is_refused(fresh_db, monkeypatch) -> None:
    dsn, _ = fresh_db
    with psycopg.connect(dsn, autocommit=True) as conn:
        migrate.apply(conn)
        edited = [migrate.Migration(m.version, m.name, m.sql + "\n-- edited") for m in migrate.available()]
        monkeypatch.setattr(migrate, "available", lambda: edited)
        with pytest.raises(migrate.MigrationError, match="was changed after it was applied"):
            migrate.apply(conn)


def test_cli_waits_then_explains_an_unreachable_database(service_env) -> None:
    env = {**service_env, "POSTGRES_PORT": str(docker.free_port())}
    done = subprocess.run(
        [sys.executable, "-m", "conveyor_core.migrate", "--wait", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 1
    assert "PostgreSQL did not answer within 2 s" in done.stdout
