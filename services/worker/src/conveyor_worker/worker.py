"""The worker: reads job ids from the stream, claims and runs the jobs.

Loops sharing one event loop:
- consume (here): XREADGROUP new entries, claim the jobs in PostgreSQL (a lease
  in this worker's name), acknowledge the entries, run the jobs;
- record (recorder.py): write finished attempts in batches;
- leases (leases.py): renew the leases of the jobs held, sweep expired ones;
- relay (relay.py): put queued jobs that are not on the stream on it, and
  notice a Redis that lost its data;
- housekeeping (housekeeping.py): presence, unclaimed entries, trimming;
- cancels (cancels.py): stop the attempts whose job was canceled.

Once a job is claimed its recovery depends on PostgreSQL alone: if this worker
dies, its leases expire and another worker puts the jobs back in the queue.
A loop that fails unexpectedly stops the worker with status 1 (liveness says
so meanwhile), so that Docker or Kubernetes starts a fresh one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable, Coroutine
from typing import Any
from uuid import UUID

import redis.asyncio as redis
from psycopg_pool import AsyncConnectionPool

from conveyor_core import streams, tracing
from conveyor_core.db import UNAVAILABLE
from conveyor_core.logs import job_context

from . import metrics
from .attempts import Attempts
from .cancels import Cancels
from .housekeeping import Entries, Housekeeping
from .leases import Leases
from .recorder import Recorder
from .relay import Relay
from .settings import WorkerSettings
from .store import Outcome, WorkerStore

log = logging.getLogger("conveyor.worker")

READ_BLOCK_MS = 1000
REDIS_ERRORS = (redis.RedisError, OSError)


class Worker:
    def __init__(self, settings: WorkerSettings, pool: AsyncConnectionPool, client: redis.Redis) -> None:
        self.settings = settings
        self.store = WorkerStore(pool)
        self.redis = client
        self.name = f"{socket.gethostname()}-{os.getpid()}"
        self.held: dict[str, int] = {}  # job id -> attempt: claimed and not yet recorded
        self.running: dict[str, asyncio.Task[None]] = {}  # job id -> the attempt's task
        self.abandoned: set[str] = set()  # running jobs whose lease we lost
        self.canceling: set[str] = set()  # running jobs whose cancel was asked for
        self.attempts = Attempts(settings)
        self.recorder = Recorder(self.store, self.held, self._pause)
        self.leases = Leases(settings, self.store, self.held, self._abandon)
        self.relay = Relay(self.store, client)
        self.housekeeping = Housekeeping(settings, self.store, client, self.name, self._free, self._take_over)
        self.cancels = Cancels(self.store, self.held, self.running, self._cancel)
        self.slot_free = asyncio.Event()
        self.stopping = asyncio.Event()
        self.last_tick = time.monotonic()
        self.stopped_loops: list[str] = []
        self.exit_code = 0

    # --- lifecycle ---------------------------------------------------------------

    async def run(self) -> int:
        log.info(
            "worker started", extra={"consumer": self.name, "concurrency": self.settings.worker_concurrency}
        )
        background = [
            self._supervise(name, loop)
            for name, loop in (
                ("tick", self._tick_loop),
                ("record", self.recorder.loop),
                ("leases", self.leases.loop),
                ("relay", self.relay.loop),
                ("housekeeping", self.housekeeping.loop),
                ("cancels", self.cancels.loop),
            )
        ]
        try:
            with contextlib.suppress(*REDIS_ERRORS):
                await streams.ensure_group(self.redis)
            await self._consume_loop()
            await self._drain()
            # Let the record loop write what the last jobs produced.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.recorder.outcomes.join(), timeout=5)
        except Exception:
            log.exception("the consume loop failed; stopping")
            self.stopped_loops.append("consume")
            self.exit_code = 1
        finally:
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            await self.recorder.flush()
            with contextlib.suppress(*REDIS_ERRORS):
                await self.housekeeping.leave()
            self.attempts.close()
            log.info("worker stopped", extra={"consumer": self.name, "exit_code": self.exit_code})
        return self.exit_code

    def stop(self) -> None:
        if not self.stopping.is_set():
            log.info("stopping: no new jobs; running ones finish or are handed back")
            self.stopping.set()
            self.slot_free.set()

    def fail(self, reason: str) -> None:
        """Stop with status 1: what is wrong needs a fresh process."""
        log.error("stopping with an error", extra={"reason": reason})
        self.exit_code = 1
        self.stop()

    def health(self) -> dict[str, Any] | None:
        """Why liveness should fail, or None when the worker is healthy."""
        if self.stopped_loops:
            return {"status": "stopped", "loops": self.stopped_loops}
        if self.attempts.too_many_stuck:
            return {"status": "stuck", "stuck_threads": len(self.attempts.abandoned)}
        return None

    def _supervise(self, name: str, loop: Callable[[], Coroutine[Any, Any, None]]) -> asyncio.Task[None]:
        async def supervised() -> None:
            try:
                await loop()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("a worker loop failed", extra={"loop": name})
                self.stopped_loops.append(name)
                self.fail(f"the {name} loop failed")

        return asyncio.create_task(supervised(), name=name)

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
            if self.attempts.too_many_stuck and not self.stopping.is_set():
                self.fail(f"{len(self.attempts.abandoned)} task threads are stuck past their timeout")
            await asyncio.sleep(1)

    # --- consume -----------------------------------------------------------------

    def _free(self) -> int:
        return 0 if self.stopping.is_set() else self.settings.worker_concurrency - len(self.running)

    async def _consume_loop(self) -> None:
        reads = 0
        while not self.stopping.is_set():
            free = self._free()
            if free <= 0:
                self.slot_free.clear()
                await self.slot_free.wait()
                continue
            order = streams.read_order(reads)
            reads += 1
            try:
                batches = await self._read(order, free)
            except redis.ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                # A stream or its group is gone: the relay notices the lost data.
                with contextlib.suppress(*REDIS_ERRORS):
                    await streams.ensure_group(self.redis)
                continue
            except REDIS_ERRORS as exc:
                await self._pause("redis unavailable", exc)
                continue
            if batches:
                await self._start(batches, wait_for_db=True)

    async def _read(self, order: list[str], free: int) -> list[tuple[str, Entries]]:
        """Up to ``free`` new entries, taking the streams in ``order``; when all
        are empty, wait for the first entry on any of them."""
        batches: list[tuple[str, Entries]] = []
        for stream in order:
            wanted = free - sum(len(entries) for _, entries in batches)
            if wanted <= 0:
                break
            reply = await self.redis.xreadgroup(streams.GROUP, self.name, {stream: ">"}, count=wanted)
            if reply and reply[0][1]:
                batches.append((stream, reply[0][1]))
        if batches:
            return batches
        # One entry per stream at most: a wake-up, the next round reads the rest.
        reply = await self.redis.xreadgroup(
            streams.GROUP, self.name, dict.fromkeys(order, ">"), count=1, block=READ_BLOCK_MS
        )
        return [(stream, entries) for stream, entries in reply or [] if entries]

    async def _take_over(self, stream: str, entries: Entries) -> None:
        await self._start([(stream, entries)], wait_for_db=False)

    async def _start(self, batches: list[tuple[str, Entries]], *, wait_for_db: bool) -> None:
        """Claim the entries' jobs and run those we got; acknowledge every entry
        once the claim is in PostgreSQL. While the database is down, the entries
        we read wait here (reading more would not help); whatever is left
        pending, housekeeping takes over once idle."""
        jobs = set()
        for _, entries in batches:
            for _, fields in entries:
                with contextlib.suppress(ValueError):
                    jobs.add(str(UUID((fields or {}).get("job", ""))))
        while True:
            try:
                rows = await self.store.claim(
                    [UUID(j) for j in jobs], self.name, self.settings.job_lease_seconds
                )
                break
            except UNAVAILABLE as exc:
                await self._pause("database unavailable", exc)
                if not wait_for_db or self.stopping.is_set():
                    return
        for row in rows:
            job_id = str(row["id"])
            self.held[job_id] = row["attempts"]
            self.running[job_id] = asyncio.create_task(self._execute(row))
        metrics.INFLIGHT.set(len(self.running))
        # Claimed, or running elsewhere, or done: the entries have served.
        with contextlib.suppress(*REDIS_ERRORS):
            async with self.redis.pipeline(transaction=False) as pipe:
                for stream, entries in batches:
                    pipe.xack(stream, streams.GROUP, *(entry_id for entry_id, _ in entries))
                await pipe.execute()

    async def _execute(self, row: dict[str, Any]) -> None:
        job_id, name, attempt = str(row["id"]), row["task"], row["attempts"]
        outcome: dict[str, Any] | None
        with job_context(job_id), tracing.job_span(job_id, name, attempt, row.get("traceparent")) as span:
            started = time.perf_counter()
            try:
                outcome = await self.attempts.run(row)
            except asyncio.CancelledError:
                if job_id in self.abandoned:
                    outcome = None
                    metrics.FINISHED.labels(name, "superseded").inc()
                elif job_id in self.canceling:
                    outcome = {"status": "canceled", "error": f"canceled while running (attempt {attempt})"}
                    log.info("job canceled while running", extra={"task": name, "attempt": attempt})
                else:
                    outcome = {"status": "queued", "handback": True}
                    log.info("job handed back at shutdown", extra={"task": name, "attempt": attempt})
            finally:
                self.running.pop(job_id, None)
                self.abandoned.discard(job_id)
                self.canceling.discard(job_id)
                metrics.INFLIGHT.set(len(self.running))
                self.slot_free.set()
            metrics.DURATION.labels(name).observe(time.perf_counter() - started)
            if outcome is None:
                tracing.job_outcome(span, "superseded", None)
            else:
                tracing.job_outcome(span, outcome["status"], outcome.get("error"))
                self.recorder.put(Outcome(id=job_id, attempt=attempt, task=name, **outcome))

    def _abandon(self, jobs: set[str]) -> None:
        """Another worker may run these now: stop our attempts, record nothing."""
        for job_id in jobs:
            if (task := self.running.get(job_id)) is not None:
                self.abandoned.add(job_id)
                task.cancel()

    def _cancel(self, jobs: set[str]) -> None:
        """Their cancel was asked for: stop the attempts, record them canceled."""
        for job_id in jobs - self.canceling:
            if (task := self.running.get(job_id)) is not None:
                self.canceling.add(job_id)
                task.cancel()

    async def _pause(self, what: str, exc: BaseException) -> None:
        if isinstance(exc, UNAVAILABLE):
            self.leases.db_failed()
        log.warning(what, extra={"reason": str(exc).strip()})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), timeout=1)
