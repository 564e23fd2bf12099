"""The API's reads and writes of the jobs table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from conveyor_core.migrate import HEAD
from conveyor_core.streams import EPOCH_CHANGED

COLUMNS = (
    "id, task, input, status, result, error, attempts, timeout_seconds, created_at, started_at, finished_at"
)
# Only a job no worker has touched yet (a claim, a retry or a hand-back moves
# dispatch_after), and created after Redis was last found to have lost its
# data: an older one's XADD may have gone to the lost data set.
MARK_DISPATCHED = (
    "UPDATE jobs SET dispatched_at = now() WHERE id = ANY(%s) AND status = 'queued'"
    f" AND dispatched_at IS NULL AND dispatch_after = created_at AND created_at > {EPOCH_CHANGED}"
)


# A cursor is the last row's (created_at in microseconds since 1970, id): any
# string of this shape is a valid position, so the pattern is the whole check.
CURSOR_PATTERN = r"^[0-9]{1,16}-[0-9a-f]{32}$"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def encode_cursor(row: dict[str, Any]) -> str:
    return f"{(row['created_at'] - EPOCH) // timedelta(microseconds=1)}-{row['id'].hex}"


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    micros, _, job_id = cursor.partition("-")
    return EPOCH + timedelta(microseconds=int(micros)), UUID(hex=job_id)


class JobStore:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool

    async def create(
        self, task: str, value: Any, timeout_seconds: float, idempotency_key: str | None
    ) -> tuple[dict[str, Any], bool]:
        """Store a job, not yet dispatched; return it and whether it is new
        (False: an earlier submit with the same idempotency key, as it is now)."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                f"INSERT INTO jobs (task, input, timeout_seconds, idempotency_key)"
                f" VALUES (%s, %s, %s, %s)"
                f" ON CONFLICT (idempotency_key) DO NOTHING RETURNING {COLUMNS}",
                (task, Jsonb(value), timeout_seconds, idempotency_key),
            )
            row = await cur.fetchone()
            if row is not None:
                return row, True
            cur = await conn.execute(
                f"SELECT {COLUMNS} FROM jobs WHERE idempotency_key = %s", (idempotency_key,)
            )
            return await cur.fetchone(), False

    async def mark_dispatched(self, job_ids: list[str]) -> None:
        """Their entries are on the stream: the relay need not dispatch them."""
        async with self.pool.connection() as conn:
            await conn.execute(MARK_DISPATCHED, (job_ids,))

    async def undispatch(self, job_id: UUID) -> None:
        """Its entry may be missing and Redis cannot take one now: the relay's job."""
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

    async def waiting(self) -> tuple[float, int]:
        """The longest wait among due queued jobs (0 without any), and how many
        of them are not on the stream yet."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT coalesce(extract(epoch FROM now() - min(dispatch_after)), 0)::float8 AS oldest,"
                " count(*) FILTER (WHERE dispatched_at IS NULL) AS undispatched"
                " FROM jobs WHERE status = 'queued' AND dispatch_after <= now()"
            )
            row = await cur.fetchone()
        return row["oldest"], row["undispatched"]

    async def schema_current(self) -> bool:
        async with self.pool.connection() as conn:
            cur = await conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL AS ok")
            if not (await cur.fetchone())["ok"]:
                return False
            cur = await conn.execute("SELECT coalesce(max(version), 0) AS v FROM schema_migrations")
            return (await cur.fetchone())["v"] >= HEAD
