"""The API's reads and writes of the jobs table."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from conveyor_core.migrate import HEAD

COLUMNS = "id, task, input, status, result, error, attempts, created_at, started_at, finished_at"


class CursorError(ValueError):
    pass


def encode_cursor(row: dict[str, Any]) -> str:
    raw = f"{row['created_at'].isoformat()}|{row['id']}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created, _, job_id = raw.partition("|")
        return datetime.fromisoformat(created), UUID(job_id)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise CursorError("not a cursor returned by this API") from exc


class JobStore:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool

    async def create(
        self, task: str, value: Any, idempotency_key: str | None, dispatched: bool
    ) -> tuple[dict[str, Any], bool]:
        """Store a job; return it and whether it is new (False: an earlier submit
        with the same idempotency key, returned as it is now)."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                f"INSERT INTO jobs (task, input, idempotency_key, dispatched_at)"
                f" VALUES (%s, %s, %s, CASE WHEN %s THEN now() END)"
                f" ON CONFLICT (idempotency_key) DO NOTHING RETURNING {COLUMNS}",
                (task, Jsonb(value), idempotency_key, dispatched),
            )
            row = await cur.fetchone()
            if row is not None:
                return row, True
            cur = await conn.execute(
                f"SELECT {COLUMNS} FROM jobs WHERE idempotency_key = %s", (idempotency_key,)
            )
            return await cur.fetchone(), False

    async def mark_undispatched(self, job_id: UUID) -> None:
        """Redis refused the job: leave it to the worker's relay."""
        async with self.pool.connection() as conn:
            await conn.execute(
                "UPDATE jobs SET dispatched_at = NULL WHERE id = %s AND status = 'queued'", (job_id,)
            )

    async def get(self, job_id: UUID) -> dict[str, Any] | None:
        async with self.pool.connection() as conn:
            cur = await conn.execute(f"SELECT {COLUMNS} FROM jobs WHERE id = %s", (job_id,))
            return await cur.fetchone()

    async def page(
        self, status: str | None, limit: int, before: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        where, params = [], []
        if status:
            where.append("status = %s")
            params.append(status)
        if before:
            where.append("(created_at, id) < (%s, %s)")
            params.extend(decode_cursor(before))
        sql = f"SELECT {COLUMNS} FROM jobs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at DESC, id DESC LIMIT %s"
        async with self.pool.connection() as conn:
            cur = await conn.execute(sql, (*params, limit + 1))
            rows = await cur.fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        return rows, encode_cursor(rows[-1]) if more else None

    async def counts(self) -> tuple[dict[str, int], int]:
        """Jobs per status, and jobs finished in the last minute."""
        async with self.pool.connection() as conn:
            cur = await conn.execute("SELECT status, count(*) AS n FROM jobs GROUP BY status")
            counts = {row["status"]: row["n"] for row in await cur.fetchall()}
            cur = await conn.execute(
                "SELECT count(*) AS n FROM jobs WHERE finished_at > now() - interval '1 minute'"
            )
            recent = (await cur.fetchone())["n"]
        return counts, recent

    async def schema_current(self) -> bool:
        async with self.pool.connection() as conn:
            cur = await conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL AS ok")
            if not (await cur.fetchone())["ok"]:
                return False
            cur = await conn.execute("SELECT coalesce(max(version), 0) AS v FROM schema_migrations")
            return (await cur.fetchone())["v"] >= HEAD
