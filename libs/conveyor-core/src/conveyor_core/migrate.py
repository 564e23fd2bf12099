"""Versioned schema migrations: ``conveyor-migrate``.

A small runner rather than Alembic or similar: the schema is plain SQL files
(``migrations/NNNN_name.sql``), the services use no ORM, and the three things a
tool would add here are a few lines each: a version table, a checksum so an
applied file that was edited later is refused, and a PostgreSQL advisory lock so
that two runs at once (two API pods starting together) apply each file once.
Each file runs in its own transaction with its version row, so a failed file
leaves the schema at the previous version.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import time
from dataclasses import dataclass
from importlib import resources

import psycopg

from . import db, logs, settings

log = logging.getLogger("conveyor.migrate")

# Any constant shared by every runner; "conveyor" in ASCII.
LOCK_ID = 0x636F6E766579


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def available() -> list[Migration]:
    found = []
    for entry in resources.files("conveyor_core.migrations").iterdir():
        if entry.name.endswith(".sql"):
            version, _, name = entry.name.removesuffix(".sql").partition("_")
            found.append(Migration(int(version), name, entry.read_text()))
    return sorted(found, key=lambda m: m.version)


HEAD = available()[-1].version


class MigrationError(Exception):
    pass


def apply(conn: psycopg.Connection) -> list[int]:
    """Apply what is missing; return the versions applied by this call."""
    applied_now = []
    conn.execute("SELECT pg_advisory_lock(%s)", (LOCK_ID,))
    try:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = dict(conn.execute("SELECT version, checksum FROM schema_migrations").fetchall())
        for migration in available():
            if migration.version in done:
                if done[migration.version] != migration.checksum:
                    raise MigrationError(
                        f"migration {migration.version} ({migration.name}) was changed after it"
                        " was applied: add a new migration instead of editing an old one"
                    )
                continue
            with conn.transaction():
                conn.execute(migration.sql)
                conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                    (migration.version, migration.name, migration.checksum),
                )
            log.info("applied migration", extra={"version": migration.version, "migration": migration.name})
            applied_now.append(migration.version)
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_ID,))
    return applied_now


def connect(dsn: str, wait_seconds: float) -> psycopg.Connection:
    """Connect, retrying while the database starts (an init container may be first)."""
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            return psycopg.connect(dsn, autocommit=True)
        except psycopg.OperationalError as exc:
            if time.monotonic() >= deadline:
                raise MigrationError(f"PostgreSQL did not answer within {wait_seconds:g} s: {exc}") from exc
            log.info("waiting for PostgreSQL", extra={"reason": str(exc).strip()})
            time.sleep(1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Bring the Conveyor database schema to its latest version.")
    parser.add_argument(
        "--wait",
        type=float,
        default=60,
        metavar="SECONDS",
        help="how long to wait for PostgreSQL to accept connections (default 60)",
    )
    args = parser.parse_args(argv)
    config = settings.load(settings.CommonSettings)
    logs.setup("migrate", config.log_level)
    try:
        with connect(db.conninfo(config, "conveyor-migrate"), args.wait) as conn:
            applied_now = apply(conn)
    except MigrationError as exc:
        log.error(str(exc))
        return 1
    log.info("schema is current", extra={"version": HEAD, "applied": applied_now})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
