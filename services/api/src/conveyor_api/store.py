"""The API's reads and writes of the jobs table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from conveyor_core import tracing
from conveyor_core.migrate import HEAD
from conveyor_core.streams import EPOCH_CHANGED

from .coalesce import Coalescer

COLUMNS = (
    "id, task, input, status, result, error, attempts, timeout_seconds, created_at, started_at, finished_at,"
    " priority, run_at, cancel_requested_at"
)
# A scheduled job waits for the relay until its time (dispatch_after); a
# run_at in the past is due at once.
INSERT = f"""
INSERT INTO jobs (task, input, timeout_seconds, idempotency_key, priority, run_at, dispatch_after,
                  traceparent)
SELECT %(task)s, %(input)s, %(timeout)s, %(key)s, %(priority)s, due, greatest(now(), due), %(traceparent)s
FROM (SELECT coalesce(%(run_at)s::timestamptz, now() + make_interval(secs => %(delay)s)) AS due) AS d
ON CONFLICT (idempotency_key) DO NOTHING RETURNING {COLUMNS}
"""
# Only a job no worker has touched yet (a claim, a retry or a hand-back moves
# dispatch_after), and created after Redis was last found to have lost its
# data: an older one's XADD may have gone to the lost data set.
MARK_DISPATCHED = (
    "UPDATE jobs SET dispatched_at = now() WHERE id = ANY(%s) AND status = 'queued'"
    f" AND dispatched_at IS NULL AND dispatch_after = created_at AND created_at > {EPOCH_CHANGED}"
)


# A queued job is canceled at once; a running one is asked to stop (its worker
# records the outcome). The row lock orders this against a claim or a finish:
# whichever comes second sees the other's result.
CANCEL = f"""
UPDATE jobs SET
    status = CASE WHEN status = 'queued' THEN 'canceled' ELSE status END,
    finished_at = CASE WHEN status = 'queued' THEN now() ELSE finished_at END,
    cancel_requested_at = coalesce(cancel_requested_at, now())
WHERE id = %s AND status IN ('queued', 'running')
RETURNING {COLUMNS}
"""


# Back in the queue under a new attempt (the claim increments the number, so
# every earlier attempt stays fenced out), with a fresh budget of attempts;
# the relay dispatches it within a second.
REQUEUE = """
status = 'queued', result = NULL, error = NULL, started_at = NULL, finished_at = NULL,
cancel_requested_at = NULL, worker = NULL, lease_until = NULL, dispatched_at = NULL,
dispatch_after = now(), attempts_before = attempts
"""
RETRY = f"UPDATE jobs SET {REQUEUE} WHERE id = %s AND status IN ('failed', 'canceled') RETURNING {COLUMNS}"
RETRYABLE = "status = %(status)s AND (%(task)s::text IS NULL OR task = %(task)s)"
RETRY_MANY = f"""
WITH picked AS (
    SELECT id FROM jobs WHERE {RETRYABLE} ORDER BY created_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED
)
UPDATE jobs SET {REQUEUE} FROM picked WHERE jobs.id = picked.id AND jobs.status = %(status)s
"""
# The most jobs one bulk retry puts back (repeat it for more).
RETRY_MANY_LIMIT = 10_000


# A cursor is the last row's (created_at in microseconds since 1970, id): any
# string of this shape is a valid position, so the pattern is the whole check.
CURSOR_PATTERN = r"^[0-9]{1,16}-[0-9a-f]{32}$"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def encode_cursor(row: dict[str, Any]) -> str:
    return f"{(row['created_at'] - EPOCH) // timedelta(microseconds=1)}-{row['id'].hex}"


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    micros, _, job_id = cursor.partition("-")
    return EPOCH + timedelta(microseconds=int(micros)), UUID(hex=job_id)


INSERT_MANY = f"""
INSERT INTO jobs (id, task, input, timeout_seconds, idempotency_key, priority, run_at, dispatch_after,
                  traceparent)
SELECT id, task, input, timeout, key, priority, due, greatest(now(), due), traceparent
FROM (
    SELECT *, coalesce(run_at, now() + make_interval(secs => delay)) AS due
    FROM unnest(%s::uuid[], %s::text[], %s::jsonb[], %s::float8[], %s::text[], %s::text[],
                %s::timestamptz[], %s::float8[], %s::text[])
         AS u(id, task, input, timeout, key, priority, run_at, delay, traceparent)
) AS d
ON CONFLICT (idempotency_key) DO NOTHING RETURNING {COLUMNS}
"""


# Counters (migration 0008) plus the deltas not folded into them yet.
COUNTS = """
SELECT status, sum(n)::bigint AS n FROM (
    SELECT status, n FROM job_counts
    UNION ALL SELECT status, n FROM job_count_deltas WHERE status <> '_finished'
) AS c GROUP BY status
"""
FINISHED_LAST_MINUTE = """
SELECT coalesce(sum(n), 0)::bigint AS n FROM (
    SELECT n FROM job_finished_seconds WHERE at > now() - interval '1 minute'
    UNION ALL SELECT n FROM job_count_deltas WHERE status = '_finished' AND at > now() - interval '1 minute'
) AS f
"""


class Conflict(Exception):
    """An idempotency key of a batch named a different job; nothing was stored."""

    def __init__(self, index: int) -> None:
        self.index = index


def is_due(row: dict[str, Any]) -> bool:
    """Due at once (the API dispatches it), or scheduled (the relay will)."""
    return row["run_at"] is None or row["run_at"] <= row["created_at"]


class JobStore:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool
        # Concurrent submits without an idempotency key: one INSERT, one commit;
        # five in flight (half the pool) keep the latency low at moderate rates.
        self._grouped = Coalescer(self.create_many, max_items=200, lanes=5)

    async def create(
        self,
        task: str,
        value: Any,
        timeout_seconds: float,
        idempotency_key: str | None,
        run_at: datetime | None = None,
        delay_seconds: float | None = None,
        priority: str = "normal",
    ) -> tuple[dict[str, Any], bool]:
        """Store a job, not yet dispatched; return it and whether it is new
        (False: an earlier submit with the same idempotency key, as it is now)."""
        if idempotency_key is None:
            item = {
                "task": task,
                "input": value,
                "timeout_seconds": timeout_seconds,
                "idempotency_key": None,
                "priority": priority,
                "run_at": run_at,
                "delay_seconds": delay_seconds,
                # Read here, in the request's context: the group's INSERT runs in another task.
                "traceparent": tracing.traceparent(),
            }
            return await self._grouped(item)
        params = {
            "task": task,
            "input": Jsonb(value),
            "timeout": timeout_seconds,
            "key": idempotency_key,
            "run_at": run_at,
            "delay": delay_seconds,
            "priority": priority,
            "traceparent": tracing.traceparent(),
        }
        async with self.pool.connection() as conn:
            cur = await conn.execute(INSERT, params)
            row = await cur.fetchone()
            if row is not None:
                return row, True
            cur = await conn.execute(
                f"SELECT {COLUMNS} FROM jobs WHERE idempotency_key = %s", (idempotency_key,)
            )
            return await cur.fetchone(), False

    async def create_many(self, items: list[dict[str, Any]]) -> list[tuple[dict[str, Any], bool]]:
        """Store a batch in one statement and one transaction: each job, and
        whether it is new. Raises Conflict (and stores nothing) when a key names
        a different job."""
        ids = [uuid4() for _ in items]
        columns = (
            "task",
            "input",
            "timeout_seconds",
            "idempotency_key",
            "priority",
            "run_at",
            "delay_seconds",
            "traceparent",
        )
        arrays = [[item[c] for item in items] for c in columns]
        arrays[1] = [Jsonb(v) for v in arrays[1]]
        arrays[2] = [float(v) for v in arrays[2]]
        arrays[6] = [None if v is None else float(v) for v in arrays[6]]
        async with self.pool.connection() as conn, conn.transaction():
            cur = await conn.execute(INSERT_MANY, (ids, *arrays))
            created = {row["id"]: row for row in await cur.fetchall()}
            replayed = [item["idempotency_key"] for i, item in enumerate(items) if ids[i] not in created]
            existing = {}
            if replayed:
                cur = await conn.execute(
                    f"SELECT {COLUMNS}, idempotency_key FROM jobs WHERE idempotency_key = ANY(%s)",
                    (replayed,),
                )
                existing = {row.pop("idempotency_key"): row for row in await cur.fetchall()}
            results = []
            for i, item in enumerate(items):
                if ids[i] in created:
                    results.append((created[ids[i]], True))
                    continue
                row = existing[item["idempotency_key"]]
                if (row["task"], row["input"], row["timeout_seconds"]) != tuple(
                    item[c] for c in ("task", "input", "timeout_seconds")
                ):
                    raise Conflict(i)
                results.append((row, False))
            return results

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

    async def cancel(self, job_id: UUID) -> dict[str, Any] | None:
        """Cancel a queued job, or ask a running one to stop; None if it is neither."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(CANCEL, (job_id,))
            return await cur.fetchone()

    async def retry(self, job_id: UUID) -> dict[str, Any] | None:
        """Put a failed or canceled job back in the queue; None if it is neither."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(RETRY, (job_id,))
            return await cur.fetchone()

    async def retry_many(self, status: str, task: str | None, dry_run: bool) -> tuple[int, int]:
        """How many jobs match, and how many were put back (at most RETRY_MANY_LIMIT)."""
        params = {"status": status, "task": task, "limit": RETRY_MANY_LIMIT}
        async with self.pool.connection() as conn:
            cur = await conn.execute(f"SELECT count(*) AS n FROM jobs WHERE {RETRYABLE}", params)
            matched = (await cur.fetchone())["n"]
            if dry_run or not matched:
                return matched, 0
            cur = await conn.execute(RETRY_MANY, params)
            return matched, cur.rowcount

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
        """Jobs per status, and jobs finished in the last minute: from the
        maintained counters, never a count of the jobs table."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(COUNTS)
            counts = {row["status"]: row["n"] for row in await cur.fetchall()}
            cur = await conn.execute(FINISHED_LAST_MINUTE)
            recent = (await cur.fetchone())["n"]
        return counts, recent

    async def fold_counts(self) -> None:
        async with self.pool.connection() as conn:
            await conn.execute("SELECT fold_job_counts()")

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
