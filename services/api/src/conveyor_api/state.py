"""What the API holds while it runs: the PostgreSQL pool, the Redis client and
what is built on them, opened at start-up and closed at shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import redis.asyncio as redis

from conveyor_core import db, reachability, streams

from . import metrics
from .dispatch import Dispatcher
from .settings import ApiSettings
from .store import JobStore

log = logging.getLogger("conveyor.api")

GAUGE_REFRESH_SECONDS = 5
FOLD_SECONDS = 1  # how often the counters' deltas are summed up
STATUSES = ("queued", "running", "succeeded", "failed", "canceled")


class State:
    def __init__(self, settings: ApiSettings) -> None:
        self.settings = settings
        self.pool = db.create_pool(settings, "conveyor-api")
        self.store = JobStore(self.pool)
        self.redis = streams.create_client(settings, timeout=0.5)
        self.dispatcher = Dispatcher(self.redis, self.store)
        self._refresher: asyncio.Task[None] | None = None
        self._marker: asyncio.Task[None] | None = None
        self._pool_check: asyncio.Task[None] | None = None
        self._folder: asyncio.Task[None] | None = None
        self._stats: asyncio.Future[dict[str, Any]] | None = None

    async def open(self) -> None:
        # Don't wait for the database: the API starts (unready) without it.
        await self.pool.open(wait=False)
        self._refresher = asyncio.create_task(self._refresh_gauges())
        self._marker = asyncio.create_task(self.dispatcher.mark_loop())
        self._folder = asyncio.create_task(self._fold_counts())

    async def close(self) -> None:
        for task in (self._refresher, self._marker, self._folder):
            if task:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.dispatcher.mark()
        await self.redis.aclose()
        await self.pool.close()

    def database_failed(self) -> None:
        """A query failed for want of the database: test the pooled connections
        in the background, so that after a database restart one request fails,
        not one per broken connection."""
        if self._pool_check is None or self._pool_check.done():
            self._pool_check = asyncio.create_task(self.pool.check())

    async def redis_ok(self) -> bool:
        try:
            return bool(await self.redis.ping())
        except (redis.RedisError, OSError):
            return False

    async def queue(self) -> tuple[int | None, int | None]:
        """Stream entries not yet delivered, and live workers; (None, None) without Redis."""
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.zcount(streams.WORKERS_KEY, f"({time.time() - streams.WORKER_TTL_SECONDS}", "+inf")
                for stream in streams.STREAMS.values():
                    pipe.xinfo_groups(stream)
                workers, *replies = await pipe.execute(raise_on_error=False)
        except (redis.RedisError, OSError) as exc:
            self.dispatcher.failed(exc)
            return None, None
        if isinstance(workers, Exception):
            self.dispatcher.failed(workers)
            return None, None
        depth = 0
        for groups in replies:
            if isinstance(groups, redis.ResponseError):  # no stream yet: nothing dispatched there
                continue
            if isinstance(groups, Exception):
                self.dispatcher.failed(groups)
                return None, None
            depth += next((g.get("lag") or 0 for g in groups if g["name"] == streams.GROUP), 0)
        return depth, workers

    async def stats(self) -> dict[str, Any]:
        # Readers that arrive while one read is under way share it: many dashboards cost one.
        if self._stats is None or self._stats.done():
            self._stats = asyncio.ensure_future(self._read_stats())
        return await asyncio.shield(self._stats)

    async def _read_stats(self) -> dict[str, Any]:
        (counts, recent), (depth, workers) = await asyncio.gather(self.store.counts(), self.queue())
        return {
            "counts": {status: counts.get(status, 0) for status in STATUSES},
            "queue_depth": depth,
            "finished_last_minute": recent,
            "workers": workers,
            "redis": "ok" if depth is not None else "degraded",
        }

    async def _fold_counts(self) -> None:
        """Keep the counters' pending deltas few, so that a stats read stays cheap."""
        while True:
            with contextlib.suppress(Exception):
                await self.store.fold_counts()
            await asyncio.sleep(FOLD_SECONDS)

    async def _refresh_gauges(self) -> None:
        """Keep the job and queue gauges of /metrics current without querying
        PostgreSQL on every scrape."""
        while True:
            metrics.DEPENDENCY_UP.labels("postgres").set(await reachability.postgres_up(self.pool))
            metrics.DEPENDENCY_UP.labels("redis").set(await reachability.redis_up(self.redis))
            with contextlib.suppress(Exception):
                current = await self.stats()
                for status, n in current["counts"].items():
                    metrics.JOBS.labels(status).set(n)
                if current["queue_depth"] is not None:
                    metrics.QUEUE_DEPTH.set(current["queue_depth"])
                    metrics.WORKERS_LIVE.set(current["workers"])
                oldest, undispatched = await self.store.waiting()
                metrics.QUEUE_OLDEST.set(oldest)
                metrics.RELAY_BACKLOG.set(undispatched)
            await asyncio.sleep(GAUGE_REFRESH_SECONDS)
