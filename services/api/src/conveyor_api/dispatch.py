"""Puts submitted jobs on the Redis stream, without ever making a submit wait
on a Redis that is down.

After a failure the dispatcher stops trying for a short pause (a minimal
circuit breaker), so while Redis is down each submit costs one PostgreSQL
insert and no timeout. Jobs it could not dispatch stay in PostgreSQL with
``dispatched_at`` NULL; the worker's relay puts them on the stream later.
"""

from __future__ import annotations

import logging
import time

import redis.asyncio as redis

from conveyor_core import streams

log = logging.getLogger("conveyor.api.dispatch")

PAUSE_SECONDS = 2.0


class Dispatcher:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._paused_until = 0.0

    @property
    def available(self) -> bool:
        """False while Redis recently failed (the dispatcher is not trying it)."""
        return time.monotonic() >= self._paused_until

    async def dispatch(self, job_id: str) -> bool:
        if not self.available:
            return False
        try:
            await streams.dispatch(self.client, [job_id])
        except (redis.RedisError, OSError) as exc:
            self.failed(exc)
            return False
        return True

    def failed(self, exc: Exception) -> None:
        if self.available:
            log.warning("redis unavailable, jobs wait in PostgreSQL", extra={"reason": str(exc)})
        self._paused_until = time.monotonic() + PAUSE_SECONDS
