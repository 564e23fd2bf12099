"""Puts submitted jobs on the Redis stream, without ever making a submit wait
on a Redis that is down.

A job is stored undispatched; after its XADD succeeds it is marked dispatched
in a batched UPDATE a moment later (no extra round trip per submit). Whatever
is not marked (Redis down, the breaker open, a crash between INSERT and XADD)
the worker's relay dispatches once the job is DISPATCH_GRACE_SECONDS old.

After a failure the dispatcher stops trying for a short pause (a minimal
circuit breaker), so while Redis is down each submit costs one PostgreSQL
insert and no timeout.
"""

from __future__ import annotations

import asyncio
import logging
import time

import redis.asyncio as redis

from conveyor_core import streams

from .coalesce import Coalescer
from .store import JobStore

log = logging.getLogger("conveyor.api.dispatch")

PAUSE_SECONDS = 2.0
MARK_SECONDS = 0.2  # well inside the relay's grace


class Dispatcher:
    def __init__(self, client: redis.Redis, store: JobStore) -> None:
        self.client = client
        self.store = store
        self._paused_until = 0.0
        self._dispatched: list[str] = []  # on the stream, not yet marked
        # Concurrent submits' XADDs go in one pipeline.
        self._grouped = Coalescer(self._dispatch_group, max_items=500)

    @property
    def available(self) -> bool:
        """False while Redis recently failed (the dispatcher is not trying it)."""
        return time.monotonic() >= self._paused_until

    async def dispatch(self, job_id: str, priority: str = "normal") -> bool:
        if not self.available:
            return False
        return await self._grouped((job_id, priority))

    async def _dispatch_group(self, jobs: list[tuple[str, str]]) -> list[bool]:
        return [await self.dispatch_many(jobs)] * len(jobs)

    async def dispatch_many(self, jobs: list[tuple[str, str]]) -> bool:
        """(job id, priority) pairs, in one pipeline."""
        if not self.available:
            return False
        try:
            await streams.dispatch(self.client, jobs)
        except (redis.RedisError, OSError) as exc:
            self.failed(exc)
            return False
        self._dispatched.extend(job_id for job_id, _ in jobs)
        return True

    def failed(self, exc: Exception) -> None:
        if self.available:
            log.warning("redis unavailable, jobs wait in PostgreSQL", extra={"reason": str(exc)})
        self._paused_until = time.monotonic() + PAUSE_SECONDS

    async def mark_loop(self) -> None:
        while True:
            await asyncio.sleep(MARK_SECONDS)
            await self.mark()

    async def mark(self) -> None:
        """A mark that fails costs a duplicate entry (the relay dispatches again), nothing more."""
        ids, self._dispatched = self._dispatched, []
        if ids:
            try:
                await self.store.mark_dispatched(ids)
            except Exception as exc:  # a best-effort hint
                log.debug("could not mark jobs dispatched", extra={"reason": str(exc).strip()})
