"""PostgreSQL connections: the conninfo built from settings, and a pool that
opens without waiting, so a process starts (and reports itself unready) while
the database is still down, then connects by itself when it returns."""

from __future__ import annotations

import orjson
import psycopg
from psycopg.conninfo import make_conninfo
from psycopg.rows import dict_row
from psycopg.types.json import set_json_dumps, set_json_loads
from psycopg_pool import AsyncConnectionPool

from .settings import CommonSettings

# orjson is several times faster than the standard json module on the hot path.
set_json_dumps(orjson.dumps)
set_json_loads(orjson.loads)

# Errors that mean "the database is not reachable right now" rather than a bug.
UNAVAILABLE = (psycopg.OperationalError, psycopg.errors.AdminShutdown)


def conninfo(settings: CommonSettings, application_name: str) -> str:
    return make_conninfo(
        host=settings.postgres_host,
        port=settings.postgres_port,
        dbname=settings.postgres_db,
        user=settings.postgres_user,
        password=settings.postgres_password.get_secret_value(),
        application_name=application_name,
        connect_timeout=3,
        sslmode=settings.postgres_sslmode,
        sslrootcert=settings.postgres_sslrootcert,  # None: left out
    )


def create_pool(
    settings: CommonSettings, application_name: str, *, max_size: int | None = None
) -> AsyncConnectionPool:
    size = max_size or settings.postgres_pool_size
    return AsyncConnectionPool(
        conninfo(settings, application_name),
        min_size=min(2, size),
        max_size=size,
        open=False,
        # A request waits this long for a connection before it gets a 503.
        timeout=3,
        # Keep trying to reconnect forever: the database coming back is normal.
        reconnect_timeout=0,
        kwargs={"autocommit": True, "row_factory": dict_row},
        name=application_name,
    )


def nul_path(value: object) -> list[str | int] | None:
    """Where a JSON value holds the NUL character, which PostgreSQL's jsonb and
    text cannot store (None if nowhere). Iterative: a deeply nested value
    cannot exhaust the stack."""
    stack: list[tuple[object, list[str | int]]] = [(value, [])]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return path
        elif isinstance(item, dict):
            for key, child in item.items():
                if isinstance(key, str) and "\x00" in key:
                    return [*path, key]
                stack.append((child, [*path, key]))
        elif isinstance(item, list | tuple):
            stack.extend((child, [*path, i]) for i, child in enumerate(item))
    return None
