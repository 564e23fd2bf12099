"""The worker's reads and writes of the jobs table.

Every write about a running attempt is fenced by the attempt number: it applies
only while the job is still ``running`` under that attempt. Once a lease expired
and the job was put back in the queue (and perhaps claimed again, attempt n+1),
the old holder can neither renew nor record it, so a job's result is recorded
once even when it ran twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from conveyor_core.streams import DISPATCH_GRACE_SECONDS, EPOCH_CHANGED


@dataclass(frozen=True)
class Outcome:
    """How one attempt ended; ``status`` is ``queued`` for a retry or a hand-back."""

    id: str
    attempt: int
    status: str
    task: str
    result: Any = None
    error: str | None = None
    retry_in: float = 0.0
    handback: bool = False


# Only jobs due to run: a stale duplicate entry cannot cut a retry's backoff short.
CLAIM = """
UPDATE jobs SET status = 'running', attempts = attempts + 1, started_at = now(),
                worker = %(worker)s, lease_until = now() + make_interval(secs => %(lease)s)
WHERE id = ANY(%(ids)s) AND status = 'queued' AND dispatch_after <= now()
RETURNING id, task, input, attempts, attempts_before, timeout_seconds, traceparent
"""

# An attempt that would go back to the queue (a retry, a hand-back) ends the
# job instead when a cancel was asked for meanwhile.
STATUS = (
    "CASE WHEN u.status = 'queued' AND j.cancel_requested_at IS NOT NULL THEN 'canceled' ELSE u.status END"
)
RECORD = f"""
UPDATE jobs AS j SET
    status = {STATUS},
    result = u.result,
    error = u.error,
    attempts = j.attempts - CASE WHEN u.handback THEN 1 ELSE 0 END,
    started_at = CASE WHEN {STATUS} = 'queued' THEN NULL ELSE j.started_at END,
    finished_at = CASE WHEN {STATUS} = 'queued' THEN NULL ELSE now() END,
    worker = CASE WHEN {STATUS} = 'queued' THEN NULL ELSE j.worker END,
    lease_until = NULL,
    dispatched_at = CASE WHEN {STATUS} = 'queued' THEN NULL ELSE j.dispatched_at END,
    dispatch_after = CASE WHEN {STATUS} = 'queued' THEN now() + make_interval(secs => u.retry_in)
                          ELSE j.dispatch_after END
FROM jsonb_to_recordset(%s) AS u(id uuid, attempt int, status text, result jsonb, error text,
                                 retry_in float8, handback bool)
WHERE j.id = u.id AND j.status = 'running' AND j.attempts = u.attempt
RETURNING j.id, extract(epoch FROM now() - j.created_at)::float8 AS since_submit
"""

RENEW = """
UPDATE jobs AS j SET lease_until = now() + make_interval(secs => %s)
FROM unnest(%s::uuid[], %s::int[]) AS h(id, attempt)
WHERE j.id = h.id AND j.status = 'running' AND j.attempts = h.attempt
RETURNING j.id
"""

# Back to the queue, due at once (or canceled, if that was asked for); the
# attempt number stays, so the old holder's late writes (attempt n) no longer match.
SWEEP = """
WITH expired AS (
    SELECT id, worker, cancel_requested_at IS NOT NULL AS cancel FROM jobs
    WHERE status = 'running' AND lease_until < now()
    ORDER BY lease_until LIMIT %s FOR UPDATE SKIP LOCKED
)
UPDATE jobs AS j SET status = CASE WHEN expired.cancel THEN 'canceled' ELSE 'queued' END,
                     started_at = CASE WHEN expired.cancel THEN j.started_at END,
                     finished_at = CASE WHEN expired.cancel THEN now() END,
                     worker = NULL, lease_until = NULL, dispatched_at = NULL, dispatch_after = now()
FROM expired WHERE j.id = expired.id
RETURNING j.id, j.attempts, expired.worker
"""

# The attempts we run that were asked to stop.
CANCEL_REQUESTED = """
SELECT j.id FROM jobs AS j JOIN unnest(%s::uuid[], %s::int[]) AS h(id, attempt)
    ON j.id = h.id AND j.attempts = h.attempt
WHERE j.status = 'running' AND j.cancel_requested_at IS NOT NULL
"""

# Jobs to put on the stream: not on it and due. A new job (no attempt yet) is
# the API's to dispatch for the first DISPATCH_GRACE_SECONDS, unless it was
# scheduled for later (then it is the relay's). SKIP LOCKED lets several
# workers relay without doing it twice.
DUE = f"""
SELECT id, priority FROM jobs
WHERE status = 'queued' AND dispatched_at IS NULL AND dispatch_after <= now()
  AND (attempts > 0 OR dispatch_after > created_at
       OR created_at < now() - interval '{DISPATCH_GRACE_SECONDS:g} seconds')
ORDER BY dispatch_after
LIMIT %s
FOR UPDATE SKIP LOCKED
"""

# Seconds until the next scheduled job is due (None: none is waiting).
NEXT_DUE = """
SELECT extract(epoch FROM min(dispatch_after) - now())::float8 AS wait FROM jobs
WHERE status = 'queued' AND dispatched_at IS NULL AND dispatch_after > now()
"""

# Not if Redis was found to have lost its data since this transaction began
# (perhaps after our XADD): those jobs were just made due again.
MARK_RELAYED = f"UPDATE jobs SET dispatched_at = now() WHERE id = ANY(%s) AND {EPOCH_CHANGED} < now()"

# Entries that may be gone: Redis lost its data (every queued job), or one
# entry went missing without a sign (dispatched long ago, never claimed).
UNDISPATCH_ALL = "UPDATE jobs SET dispatched_at = NULL WHERE status = 'queued' AND dispatched_at IS NOT NULL"
UNDISPATCH_STALE = """
UPDATE jobs SET dispatched_at = NULL
WHERE status = 'queued' AND dispatched_at < now() - make_interval(secs => %s)
"""


# Oldest first; FOR UPDATE rechecks the status of a row changed meanwhile (a retry).
DELETE_FINISHED = """
DELETE FROM jobs WHERE id IN (
    SELECT id FROM jobs WHERE status = %(status)s AND finished_at < now() - make_interval(secs => %(age)s)
    ORDER BY finished_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED
)
"""


class WorkerStore:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool

    async def claim(self, ids: list[UUID], worker: str, lease: float) -> list[dict[str, Any]]:
        """Take the queued jobs among ``ids``: running under a new attempt, leased to ``worker``."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(CLAIM, {"ids": ids, "worker": worker, "lease": lease})
            return await cur.fetchall()

    async def record(self, outcomes: list[Outcome]) -> dict[str, float]:
        """Write outcomes in one statement; return the ids whose write applied,
        each with the seconds since its job was submitted."""
        rows = [asdict(o) for o in outcomes]
        async with self.pool.connection() as conn:
            cur = await conn.execute(RECORD, (Jsonb(rows),))
            return {str(row["id"]): row["since_submit"] for row in await cur.fetchall()}

    async def renew(self, held: dict[str, int], lease: float) -> set[str]:
        """Extend the leases of the attempts we hold; return the ids still ours."""
        ids, attempts = list(held), list(held.values())
        async with self.pool.connection() as conn:
            cur = await conn.execute(RENEW, (lease, ids, attempts))
            return {str(row["id"]) for row in await cur.fetchall()}

    async def cancel_requested(self, held: dict[str, int]) -> set[str]:
        ids, attempts = list(held), list(held.values())
        async with self.pool.connection() as conn:
            cur = await conn.execute(CANCEL_REQUESTED, (ids, attempts))
            return {str(row["id"]) for row in await cur.fetchall()}

    async def sweep(self, limit: int) -> list[dict[str, Any]]:
        """Put running jobs whose lease expired back in the queue."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(SWEEP, (limit,))
            return await cur.fetchall()

    async def relay(self, limit: int, send: Callable[[list[tuple[str, str]]], Awaitable[None]]) -> int:
        """Pass due jobs, (id, priority), to ``send`` (which puts them on the stream)
        and mark them dispatched, in one transaction: if sending fails, nothing is marked."""
        async with self.pool.connection() as conn, conn.transaction():
            cur = await conn.execute(DUE, (limit,))
            jobs = [(str(row["id"]), row["priority"]) for row in await cur.fetchall()]
            ids = [job_id for job_id, _ in jobs]
            if ids:
                await send(jobs)
                await conn.execute(MARK_RELAYED, (ids,))
            return len(ids)

    async def next_due(self) -> float | None:
        async with self.pool.connection() as conn:
            cur = await conn.execute(NEXT_DUE)
            return (await cur.fetchone())["wait"]

    async def adopt_epoch(self, epoch: str) -> int | None:
        """Record the Redis data set now in use. If it is not the one recorded,
        mark every queued job undispatched (its entry may be gone) and return
        how many; None when nothing changed. One worker wins the change."""
        async with self.pool.connection() as conn, conn.transaction():
            cur = await conn.execute("SELECT epoch FROM redis_epoch FOR UPDATE")
            row = await cur.fetchone()
            if row is not None and row["epoch"] == epoch:
                return None
            await conn.execute(
                "INSERT INTO redis_epoch (epoch) VALUES (%s) ON CONFLICT (singleton)"
                " DO UPDATE SET epoch = excluded.epoch, changed_at = now()",
                (epoch,),
            )
            cur = await conn.execute(UNDISPATCH_ALL)
            return cur.rowcount

    async def delete_finished(self, status: str, older_than: float, limit: int) -> int:
        async with self.pool.connection() as conn:
            cur = await conn.execute(DELETE_FINISHED, {"status": status, "age": older_than, "limit": limit})
            return cur.rowcount

    async def fold_counts(self) -> None:
        """Sum the status counters' deltas (migration 0008) into their totals."""
        async with self.pool.connection() as conn:
            await conn.execute("SELECT fold_job_counts()")

    async def table_bytes(self) -> int:
        async with self.pool.connection() as conn:
            cur = await conn.execute("SELECT pg_total_relation_size('jobs') AS n")
            return (await cur.fetchone())["n"]

    async def undispatch_stale(self, older_than: float) -> int:
        async with self.pool.connection() as conn:
            cur = await conn.execute(UNDISPATCH_STALE, (older_than,))
            return cur.rowcount
