"""The worker's reads and writes of the jobs table.

Every write that ends an attempt is fenced by the attempt number: it applies only
while the job is still ``running`` under that attempt. If a worker was presumed
dead and its job reclaimed (attempt n+1), the old worker's late result is
ignored, so a job's effect is recorded once even when it ran twice.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool


@dataclass(frozen=True)
class Outcome:
    """How one attempt ended; ``status`` is ``queued`` for a retry or a hand-back."""

    id: str
    attempt: int
    status: str
    task: str
    message_id: str
    result: Any = None
    error: str | None = None
    retry_in: float = 0.0
    handback: bool = False


CLAIM = """
UPDATE jobs SET status = 'running', attempts = attempts + 1, started_at = now()
WHERE id = ANY(%s) AND (status = 'queued' OR (%s AND status = 'running'))
RETURNING id, task, input, attempts
"""

RECORD = """
UPDATE jobs AS j SET
    status = u.status,
    result = u.result,
    error = u.error,
    attempts = j.attempts - CASE WHEN u.handback THEN 1 ELSE 0 END,
    started_at = CASE WHEN u.status = 'queued' THEN NULL ELSE j.started_at END,
    finished_at = CASE WHEN u.status IN ('succeeded', 'failed') THEN now() END,
    dispatched_at = CASE WHEN u.status = 'queued' THEN NULL ELSE j.dispatched_at END,
    dispatch_after = CASE WHEN u.status = 'queued' THEN now() + make_interval(secs => u.retry_in)
                          ELSE j.dispatch_after END
FROM jsonb_to_recordset(%s) AS u(id uuid, attempt int, status text, result jsonb, error text,
                                 retry_in float8, handback bool)
WHERE j.id = u.id AND j.status = 'running' AND j.attempts = u.attempt
RETURNING j.id
"""

# Jobs to put on the stream: never dispatched (Redis was down at submit, or a
# retry whose backoff has passed), or dispatched so long ago that the entry was
# probably lost. SKIP LOCKED lets several workers relay without doing it twice.
DUE = """
SELECT id FROM jobs
WHERE status = 'queued'
  AND ((dispatched_at IS NULL AND dispatch_after <= now())
       OR dispatched_at < now() - make_interval(secs => %s))
ORDER BY dispatch_after
LIMIT %s
FOR UPDATE SKIP LOCKED
"""


class WorkerStore:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool

    async def claim(self, ids: list[UUID], reclaimed: bool) -> list[dict[str, Any]]:
        """Mark the jobs running under a new attempt. Only queued jobs are taken,
        or, for entries reclaimed from a dead worker, jobs it left running."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(CLAIM, (ids, reclaimed))
            return await cur.fetchall()

    async def record(self, outcomes: list[Outcome]) -> set[str]:
        """Write outcomes in one statement; return the ids whose write applied."""
        rows = [asdict(o) for o in outcomes]
        async with self.pool.connection() as conn:
            cur = await conn.execute(RECORD, (Jsonb(rows),))
            return {str(row["id"]) for row in await cur.fetchall()}

    async def relay(self, redispatch_after: float, limit: int, send: Any) -> int:
        """Pass due jobs to ``send`` (which puts them on the stream) and mark them
        dispatched, in one transaction: if sending fails, nothing is marked."""
        async with self.pool.connection() as conn, conn.transaction():
            cur = await conn.execute(DUE, (redispatch_after, limit))
            ids = [str(row["id"]) for row in await cur.fetchall()]
            if ids:
                await send(ids)
                await conn.execute("UPDATE jobs SET dispatched_at = now() WHERE id = ANY(%s)", (ids,))
            return len(ids)
