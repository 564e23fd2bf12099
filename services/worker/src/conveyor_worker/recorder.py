"""Writes the outcomes of finished attempts to PostgreSQL, in batches.

An outcome waits here while PostgreSQL is down; its job stays held (its lease
renewed) until the write applied or was refused as superseded.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from conveyor_core.db import UNAVAILABLE

from . import metrics
from .store import Outcome, WorkerStore

log = logging.getLogger("conveyor.worker")

RECORD_BATCH = 1000
FINAL = ("succeeded", "failed")


class Recorder:
    def __init__(
        self,
        store: WorkerStore,
        held: dict[str, int],
        pause: Callable[[str, BaseException], Awaitable[None]],
    ) -> None:
        self.store = store
        self.held = held
        self.pause = pause
        self.outcomes: asyncio.Queue[Outcome] = asyncio.Queue()

    def put(self, outcome: Outcome) -> None:
        self.outcomes.put_nowait(outcome)

    async def loop(self) -> None:
        while True:
            await self._record([await self.outcomes.get()])

    async def flush(self) -> None:
        """At shutdown: a few tries each; what is left is rerun once its lease expires."""
        try:
            while not self.outcomes.empty():
                await self._record([self.outcomes.get_nowait()], tries=3)
        except Exception:
            log.exception("outcomes not recorded at shutdown; their jobs run again once their leases expire")

    async def _record(self, batch: list[Outcome], *, tries: float = float("inf")) -> None:
        while not self.outcomes.empty() and len(batch) < RECORD_BATCH:
            batch.append(self.outcomes.get_nowait())
        try:
            applied = await self._write(batch, tries)
        finally:
            for _ in batch:
                self.outcomes.task_done()
        if applied is None:
            return
        for outcome in batch:
            if self.held.get(outcome.id) == outcome.attempt:
                del self.held[outcome.id]
            metrics.FINISHED.labels(outcome.task, _label(outcome, outcome.id in applied)).inc()
            if outcome.id in applied and outcome.status in FINAL:
                metrics.LATENCY.labels(outcome.task, outcome.status).observe(applied[outcome.id])

    async def _write(self, batch: list[Outcome], tries: float) -> dict[str, float] | None:
        tried = 0
        while True:
            try:
                return await self.store.record(batch)
            except UNAVAILABLE as exc:
                tried += 1
                if tried >= tries:
                    return None
                await self.pause("database unavailable, outcomes wait", exc)


def _label(outcome: Outcome, applied: bool) -> str:
    if not applied:
        return "superseded"
    if outcome.handback:
        return "handed_back"
    return "retry" if outcome.status == "queued" else outcome.status
