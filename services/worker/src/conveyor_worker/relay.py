"""The relay puts on the stream the queued jobs that are not on it: scheduled
jobs whose time came, retries whose backoff passed, jobs back from an expired
lease or a shutdown, and new jobs the API could not dispatch (Redis down, a
crash between INSERT and XADD). It wakes every RELAY_SECONDS, or sooner when
a scheduled job falls due before that.

Before each round it checks that Redis still holds the data set the entries
were added to; if Redis lost it (restart without its AOF tail, failover,
FLUSHALL, a new empty server), every queued job becomes due at once.
"""

from __future__ import annotations

import asyncio
import logging

import redis.asyncio as redis

from conveyor_core import streams
from conveyor_core.db import UNAVAILABLE

from . import metrics
from .store import WorkerStore

log = logging.getLogger("conveyor.worker")

RELAY_SECONDS = 1
RELAY_BATCH = 500
REDIS_ERRORS = (redis.RedisError, OSError)


class Relay:
    def __init__(self, store: WorkerStore, client: redis.Redis) -> None:
        self.store = store
        self.redis = client
        self._epoch: str | None = None  # the data set last confirmed in PostgreSQL

    async def loop(self) -> None:
        while True:
            try:
                await self._check_epoch()
                n = await self.store.relay(RELAY_BATCH, self._send)
                if n:
                    metrics.RELAYED.inc(n)
                    log.info("relayed jobs to the stream", extra={"count": n})
                if n == RELAY_BATCH:
                    continue
                wait = await self.store.next_due()
            except (*UNAVAILABLE, *REDIS_ERRORS) as exc:
                log.debug("relay skipped", extra={"reason": str(exc).strip()})
                wait = None
            await asyncio.sleep(RELAY_SECONDS if wait is None else min(max(wait, 0.01), RELAY_SECONDS))

    async def _send(self, jobs: list[tuple[str, str]]) -> None:
        await streams.dispatch(self.redis, jobs)

    async def _check_epoch(self) -> None:
        current = await streams.epoch(self.redis)
        if current == self._epoch:
            return
        undispatched = await self.store.adopt_epoch(current)
        if undispatched is not None:
            metrics.REDISPATCHED.inc(undispatched)
            log.warning(
                "redis is a new data set (restarted, replaced or flushed): queued jobs are due again",
                extra={"epoch": current, "jobs": undispatched},
            )
        self._epoch = current
