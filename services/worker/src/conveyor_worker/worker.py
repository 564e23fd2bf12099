"""The worker: reads job ids from the stream, runs the jobs, records outcomes.

Four loops share one event loop:
- consume: XREADGROUP new entries, claim the jobs in PostgreSQL, run them;
- record: write finished attempts in batches, then XACK their entries;
- housekeeping: heartbeat, keep our own pending entries fresh, XAUTOCLAIM the
  entries of workers that died, trim the stream;
- relay: put jobs that never reached the stream (or wait for a retry) on it.

An entry is acknowledged only after its job's outcome is in PostgreSQL. If the
worker dies before that, the entry stays pending, goes idle, and another worker
reclaims it and runs the job again under a new attempt number.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import time
from typing import Any
from uuid import UUID

import orjson
import redis.asyncio as redis
from psycopg_pool import AsyncConnectionPool

from conveyor_core import streams, tasks
from conveyor_core.db import UNAVAILABLE
from conveyor_core.logs import job_context

from . import metrics
from .settings import WorkerSettings
from .store import Outcome, WorkerStore

log = logging.getLogger("conveyor.worker")

READ_BLOCK_MS = 1000
HOUSEKEEPING_SECONDS = 5
RELAY_SECONDS = 1
RELAY_BATCH = 500
RECORD_BATCH = 1000
TRIM_EVERY = 12  # housekeeping rounds
RETRY_CAP_SECONDS = 60
REDIS_ERRORS = (redis.RedisError, OSError)


class Worker:
    def __init__(self, settings: WorkerSettings, pool: AsyncConnectionPool, client: redis.Redis) -> None:
        self.settings = settings
        self.store = WorkerStore(pool)
        self.redis = client
        self.name = f"{socket.gethostname()}-{os.getpid()}"
        self.running: dict[str, asyncio.Task[None]] = {}  # stream entry id -> the job's task
        self.held: set[str] = set()  # entries claimed and not yet acknowledged
        self.outcomes: asyncio.Queue[Outcome] = asyncio.Queue()
        self.slot_free = asyncio.Event()
        self.stopping = asyncio.Event()
        self.last_tick = time.monotonic()
        self._reclaim_cursor = "0-0"

    # --- lifecycle ---------------------------------------------------------------

    async def run(self) -> None:
        log.info(
            "worker started", extra={"consumer": self.name, "concurrency": self.settings.worker_concurrency}
        )
        background = [
            asyncio.create_task(loop(), name=loop.__name__)
            for loop in (self._tick_loop, self._record_loop, self._housekeeping_loop, self._relay_loop)
        ]
        try:
            await self._recover_own_entries()
            await self._consume_loop()
            await self._drain()
            # Let the record loop write what the last jobs produced.
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.outcomes.join(), timeout=5)
        finally:
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            await self._flush_remaining()
            with contextlib.suppress(*REDIS_ERRORS):
                await self.redis.zrem(streams.WORKERS_KEY, self.name)
            log.info("worker stopped", extra={"consumer": self.name})

    def stop(self) -> None:
        if not self.stopping.is_set():
            log.info("stopping: no new jobs; running ones finish or are handed back")
            self.stopping.set()
            self.slot_free.set()

    async def _drain(self) -> None:
        """Let running jobs finish within the grace period; hand back the rest."""
        pending = list(self.running.values())
        if not pending:
            return
        _, late = await asyncio.wait(pending, timeout=self.settings.worker_shutdown_grace)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)

    async def _tick_loop(self) -> None:
        """Liveness: the event loop still runs its tasks. Not tied to consuming,
        since a worker whose every slot holds a long job is busy, not stuck."""
        while True:
            self.last_tick = time.monotonic()
            await asyncio.sleep(1)

    # --- consume -----------------------------------------------------------------

    async def _consume_loop(self) -> None:
        while not self.stopping.is_set():
            free = self.settings.worker_concurrency - len(self.running)
            if free <= 0:
                self.slot_free.clear()
                await self.slot_free.wait()
                continue
            try:
                reply = await self.redis.xreadgroup(
                    streams.GROUP, self.name, {streams.STREAM: ">"}, count=free, block=READ_BLOCK_MS
                )
            except redis.ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                await streams.ensure_group(self.redis)
                continue
            except REDIS_ERRORS as exc:
                await self._pause("redis unavailable", exc)
                continue
            if reply:
                await self._start(reply[0][1], reclaimed=False)

    async def _recover_own_entries(self) -> None:
        """Entries still pending under our own name belong to our predecessor: a
        container restarted after a crash keeps its hostname and PID 1, so its
        consumer name. Take them back now rather than after the idle timeout."""
        try:
            await streams.ensure_group(self.redis)
            reply = await self.redis.xreadgroup(
                streams.GROUP, self.name, {streams.STREAM: "0"}, count=self.settings.worker_concurrency
            )
        except REDIS_ERRORS as exc:
            log.warning("could not look for entries of a previous run", extra={"reason": str(exc)})
            return
        if reply and reply[0][1]:
            log.info("recovering entries of a previous run", extra={"count": len(reply[0][1])})
            await self._start(reply[0][1], reclaimed=True)

    async def _start(self, entries: list[tuple[str, dict[str, str] | None]], reclaimed: bool) -> None:
        """Claim the entries' jobs and run those we got; acknowledge the rest."""
        by_job: dict[str, str] = {}
        useless = []
        for entry_id, fields in entries:
            job_id = (fields or {}).get("job", "")
            try:
                by_job[str(UUID(job_id))] = entry_id
            except ValueError:
                useless.append(entry_id)
        try:
            rows = await self.store.claim([UUID(j) for j in by_job], reclaimed)
        except UNAVAILABLE as exc:
            # Unclaimed entries stay pending and are reclaimed once PostgreSQL is back.
            await self._pause("database unavailable", exc)
            return
        for row in rows:
            job_id = str(row["id"])
            entry_id = by_job.pop(job_id)
            if reclaimed:
                metrics.RECLAIMED.inc()
            self.held.add(entry_id)
            self.running[entry_id] = asyncio.create_task(self._execute(row, entry_id))
        # Entries whose job is already running elsewhere or done: duplicates.
        useless.extend(by_job.values())
        if useless:
            with contextlib.suppress(*REDIS_ERRORS):
                await self.redis.xack(streams.STREAM, streams.GROUP, *useless)
        metrics.INFLIGHT.set(len(self.running))

    async def _execute(self, row: dict[str, Any], entry_id: str) -> None:
        job_id, name, attempt = str(row["id"]), row["task"], row["attempts"]
        outcome: dict[str, Any]
        with job_context(job_id):
            started = time.perf_counter()
            try:
                outcome = await self._attempt(name, row["input"], attempt)
            except asyncio.CancelledError:
                outcome = {"status": "queued", "handback": True}
                log.info("job handed back at shutdown", extra={"task": name, "attempt": attempt})
            finally:
                self.running.pop(entry_id, None)
                metrics.INFLIGHT.set(len(self.running))
                self.slot_free.set()
            metrics.DURATION.labels(name).observe(time.perf_counter() - started)
            self.outcomes.put_nowait(
                Outcome(id=job_id, attempt=attempt, task=name, message_id=entry_id, **outcome)
            )

    async def _attempt(self, name: str, value: Any, attempt: int) -> dict[str, Any]:
        """Run one attempt; say how the job goes on."""
        max_attempts = self.settings.job_max_attempts
        if attempt > max_attempts:  # e.g. it killed the worker every time
            return {"status": "failed", "error": f"gave up after {max_attempts} attempts"}
        task = tasks.get(name)
        try:
            if task is None:
                raise LookupError(f"this worker has no task {name!r}")
            result = await task.run(value)
            orjson.dumps(result)  # a result that cannot be stored is the task's error
        except tasks.ValidationError as exc:  # retrying cannot fix the input
            log.warning("job input invalid", extra={"task": name})
            return {"status": "failed", "error": f"invalid input: {exc.errors()[0]['msg']}"}
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            if attempt >= max_attempts:
                log.warning("job failed", extra={"task": name, "attempt": attempt, "error": error})
                return {"status": "failed", "error": error}
            delay = self._backoff(attempt)
            log.info(
                "job attempt failed, will retry",
                extra={"task": name, "attempt": attempt, "retry_in": delay, "error": error},
            )
            return {"status": "queued", "error": error, "retry_in": delay}
        return {"status": "succeeded", "result": result}

    def _backoff(self, attempt: int) -> float:
        delay = min(self.settings.job_retry_base_seconds * 2 ** (attempt - 1), RETRY_CAP_SECONDS)
        return delay * random.uniform(0.8, 1.2)  # noqa: S311 - jitter, not security

    # --- record ------------------------------------------------------------------

    async def _record_loop(self) -> None:
        while True:
            batch = [await self.outcomes.get()]
            await self._record(batch)

    async def _record(self, batch: list[Outcome], *, attempts: float = float("inf")) -> None:
        while not self.outcomes.empty() and len(batch) < RECORD_BATCH:
            batch.append(self.outcomes.get_nowait())
        try:
            await self._record_batch(batch, attempts)
        finally:
            for _ in batch:
                self.outcomes.task_done()

    async def _record_batch(self, batch: list[Outcome], attempts: float) -> None:
        tried = 0
        while True:
            try:
                applied = await self.store.record(batch)
                break
            except UNAVAILABLE as exc:
                tried += 1
                if tried >= attempts:
                    return  # entries stay pending: another worker will redo these jobs
                await self._pause("database unavailable, outcomes wait", exc)
        for outcome in batch:
            outcome_name = outcome.status if outcome.id in applied else "superseded"
            if outcome.handback:
                outcome_name = "handed_back"
            elif outcome.status == "queued" and outcome.id in applied:
                outcome_name = "retry"
            metrics.FINISHED.labels(outcome.task, outcome_name).inc()
        entry_ids = [o.message_id for o in batch]
        self.held.difference_update(entry_ids)
        try:
            await self.redis.xack(streams.STREAM, streams.GROUP, *entry_ids)
        except REDIS_ERRORS as exc:
            # The jobs are recorded; their entries will be reclaimed and found done.
            log.warning("could not acknowledge entries", extra={"reason": str(exc)})

    async def _flush_remaining(self) -> None:
        while not self.outcomes.empty():
            await self._record([self.outcomes.get_nowait()], attempts=3)

    # --- housekeeping ------------------------------------------------------------

    async def _housekeeping_loop(self) -> None:
        # Often enough that a live worker's entries never look idle to others.
        interval = min(HOUSEKEEPING_SECONDS, self.settings.reclaim_idle_seconds / 3)
        rounds = 0
        while True:
            try:
                await self._heartbeat()
                await self._reclaim()
                if rounds % TRIM_EVERY == 0:
                    await self._trim()
            except REDIS_ERRORS as exc:
                log.warning("housekeeping failed", extra={"reason": str(exc)})
            except UNAVAILABLE as exc:
                log.warning("housekeeping failed", extra={"reason": str(exc).strip()})
            rounds += 1
            await asyncio.sleep(interval)

    async def _heartbeat(self) -> None:
        now = time.time()
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zadd(streams.WORKERS_KEY, {self.name: now})
            pipe.zremrangebyscore(streams.WORKERS_KEY, "-inf", now - 3600)
            if self.running:
                # Claiming our own entries resets their idle time: they are alive.
                pipe.xclaim(streams.STREAM, streams.GROUP, self.name, 0, list(self.running), justid=True)
            await pipe.execute()

    async def _reclaim(self) -> None:
        free = self.settings.worker_concurrency - len(self.running)
        if free <= 0 or self.stopping.is_set():
            return
        idle_ms = int(self.settings.reclaim_idle_seconds * 1000)
        reply = await self.redis.xautoclaim(
            streams.STREAM, streams.GROUP, self.name, idle_ms, start_id=self._reclaim_cursor, count=free
        )
        self._reclaim_cursor, entries = reply[0], reply[1]
        deleted = reply[2] if len(reply) > 2 else []
        if deleted:  # entries trimmed away: nothing to run, just stop tracking them
            await self.redis.xack(streams.STREAM, streams.GROUP, *deleted)
        if entries:
            log.info("reclaimed entries of a dead worker", extra={"count": len(entries)})
            await self._start(entries, reclaimed=True)

    async def _trim(self) -> None:
        """Drop entries every consumer is done with, keeping the stream small."""
        groups = await self.redis.xinfo_groups(streams.STREAM)
        group = next((g for g in groups if g["name"] == streams.GROUP), None)
        if group is None:
            return
        oldest = group["last-delivered-id"]
        pending = await self.redis.xpending(streams.STREAM, streams.GROUP)
        if pending["pending"]:
            oldest = min(oldest, pending["min"], key=_entry_key)
        await self.redis.xtrim(streams.STREAM, minid=oldest, approximate=True)

    # --- relay -------------------------------------------------------------------

    async def _relay_loop(self) -> None:
        async def send(ids: list[str]) -> None:
            await streams.dispatch(self.redis, ids)

        while True:
            try:
                n = await self.store.relay(self.settings.redispatch_after_seconds, RELAY_BATCH, send)
                if n:
                    metrics.RELAYED.inc(n)
                    log.info("relayed jobs to the stream", extra={"count": n})
                if n == RELAY_BATCH:
                    continue
            except (*UNAVAILABLE, *REDIS_ERRORS) as exc:
                log.debug("relay skipped", extra={"reason": str(exc).strip()})
            await asyncio.sleep(RELAY_SECONDS)

    async def _pause(self, what: str, exc: BaseException) -> None:
        log.warning(what, extra={"reason": str(exc).strip()})
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), timeout=1)


def _entry_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)
