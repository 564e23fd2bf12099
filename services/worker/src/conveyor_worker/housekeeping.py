"""Every few seconds: say this worker is alive (for /api/stats), take over
stream entries read but never claimed (their reader died or PostgreSQL was
down), trim the stream, give up on entries dispatched long ago and never
claimed (they are dispatched again), and delete old finished jobs."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

import redis.asyncio as redis

from conveyor_core import reachability, streams
from conveyor_core.db import UNAVAILABLE

from . import metrics
from .retention import Retention
from .settings import WorkerSettings
from .store import WorkerStore

log = logging.getLogger("conveyor.worker")

HOUSEKEEPING_SECONDS = 5
TRIM_EVERY = 12  # rounds
REDIS_ERRORS = (redis.RedisError, OSError)
Entries = list[tuple[str, dict[str, str] | None]]


class Housekeeping:
    def __init__(
        self,
        settings: WorkerSettings,
        store: WorkerStore,
        client: redis.Redis,
        name: str,
        free: Callable[[], int],
        start: Callable[[str, Entries], Awaitable[None]],
    ) -> None:
        self.settings = settings
        self.store = store
        self.redis = client
        self.name = name
        self.free = free
        self.start = start
        self.retention = Retention(settings, store)
        self._cursors = dict.fromkeys(streams.STREAMS.values(), "0-0")

    async def loop(self) -> None:
        rounds = 0
        while True:
            await self._probe()
            try:
                await self._heartbeat()
                await self._reclaim()
                if rounds % TRIM_EVERY == 0:
                    await self._trim()
                if n := await self.store.undispatch_stale(self.settings.redispatch_after_seconds):
                    metrics.REDISPATCHED.inc(n)
                    log.warning(
                        "jobs dispatched long ago were never claimed; dispatch again", extra={"jobs": n}
                    )
            except (*REDIS_ERRORS, *UNAVAILABLE) as exc:
                log.warning("housekeeping failed", extra={"reason": str(exc).strip()})
            try:  # needs PostgreSQL only
                await self.retention.run()
            except UNAVAILABLE as exc:
                log.warning("retention skipped", extra={"reason": str(exc).strip()})
            rounds += 1
            await asyncio.sleep(HOUSEKEEPING_SECONDS)

    async def _probe(self) -> None:
        metrics.DEPENDENCY_UP.labels("postgres").set(await reachability.postgres_up(self.store.pool))
        metrics.DEPENDENCY_UP.labels("redis").set(await reachability.redis_up(self.redis))

    async def leave(self) -> None:
        await self.redis.zrem(streams.WORKERS_KEY, self.name)

    async def _heartbeat(self) -> None:
        now = time.time()
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zadd(streams.WORKERS_KEY, {self.name: now})
            pipe.zremrangebyscore(streams.WORKERS_KEY, "-inf", now - 3600)
            await pipe.execute()

    async def _reclaim(self) -> None:
        """Entries are acknowledged once their job is claimed in PostgreSQL, so an
        entry idle for a lease period was read by a worker that could not claim it."""
        idle_ms = int(self.settings.job_lease_seconds * 1000)
        for stream in streams.STREAMS.values():
            free = self.free()
            if free <= 0:
                return
            try:
                reply = await self.redis.xautoclaim(
                    stream, streams.GROUP, self.name, idle_ms, start_id=self._cursors[stream], count=free
                )
            except redis.ResponseError as exc:
                if "NOGROUP" in str(exc):  # nothing was ever dispatched at this level
                    continue
                raise
            self._cursors[stream], entries = reply[0], reply[1]
            deleted = reply[2] if len(reply) > 2 else []
            if deleted:  # entries trimmed away: nothing to run, just stop tracking them
                await self.redis.xack(stream, streams.GROUP, *deleted)
            if entries:
                metrics.RECLAIMED.inc(len(entries))
                log.info("took over entries that were never claimed", extra={"count": len(entries)})
                await self.start(stream, entries)

    async def _trim(self) -> None:
        """Drop entries every consumer is done with, keeping the streams small."""
        for stream in streams.STREAMS.values():
            try:
                groups = await self.redis.xinfo_groups(stream)
            except redis.ResponseError:  # no such stream
                continue
            group = next((g for g in groups if g["name"] == streams.GROUP), None)
            if group is None:
                continue
            oldest = group["last-delivered-id"]
            pending = await self.redis.xpending(stream, streams.GROUP)
            if pending["pending"]:
                oldest = min(oldest, pending["min"], key=_entry_key)
            await self.redis.xtrim(stream, minid=oldest, approximate=True)


def _entry_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)
