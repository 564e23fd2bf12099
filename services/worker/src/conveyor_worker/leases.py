"""Leases in PostgreSQL: this worker renews the leases of every job it holds
(running, or finished and waiting to be recorded), and puts back in the queue
the running jobs whose lease expired, whoever held them.

A sweeper trusts an expired lease only once it has itself reached PostgreSQL
for a whole lease period: after a database outage every holder gets that long
to renew, so an outage does not make live workers' jobs run twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from conveyor_core.db import UNAVAILABLE

from . import metrics
from .settings import WorkerSettings
from .store import WorkerStore

log = logging.getLogger("conveyor.worker")

SWEEP_BATCH = 500


class Leases:
    def __init__(
        self,
        settings: WorkerSettings,
        store: WorkerStore,
        held: dict[str, int],
        lost: Callable[[set[str]], None],
    ) -> None:
        self.lease = settings.job_lease_seconds
        self.store = store
        self.held = held  # job id -> the attempt we hold
        self.lost = lost
        self._db_since: float | None = None  # reached PostgreSQL without a failure since then

    def db_failed(self) -> None:
        self._db_since = None

    async def loop(self) -> None:
        while True:
            try:
                await self._renew()
                await self._sweep()
            except UNAVAILABLE as exc:
                self.db_failed()
                log.warning("could not renew leases", extra={"reason": str(exc).strip()})
            await asyncio.sleep(self.lease / 3)

    async def _renew(self) -> None:
        held = dict(self.held)
        renewed = await self.store.renew(held, self.lease) if held else set()
        if self._db_since is None:
            self._db_since = time.monotonic()
        # Held before and after the renewal under the same attempt, yet not renewed.
        gone = {job for job, attempt in held.items() if job not in renewed and self.held.get(job) == attempt}
        if gone:
            metrics.LOST.inc(len(gone))
            log.warning("lost the lease of jobs we hold; abandoning them", extra={"jobs": sorted(gone)})
            for job in gone:
                del self.held[job]
            self.lost(gone)

    async def _sweep(self) -> None:
        if self._db_since is None or time.monotonic() - self._db_since < self.lease:
            return
        while rows := await self.store.sweep(SWEEP_BATCH):
            metrics.EXPIRED.inc(len(rows))
            for row in rows:
                log.warning(
                    "lease expired, job back in the queue",
                    extra={"job_id": str(row["id"]), "attempt": row["attempts"], "holder": row["worker"]},
                )
            if len(rows) < SWEEP_BATCH:
                break
