"""Retention: finished jobs are deleted once older than their status's
retention (JOB_RETENTION_*_DAYS), a small batch at a time, so that the table
stays bounded without long locks or a burst of WAL. A job that is queued or
running is never deleted: only its final status makes it eligible."""

from __future__ import annotations

import logging

from . import metrics
from .settings import WorkerSettings
from .store import WorkerStore

log = logging.getLogger("conveyor.worker")

BATCH = 1000
BATCHES_PER_ROUND = 10  # per status: at most 10,000 rows a round and a worker


class Retention:
    def __init__(self, settings: WorkerSettings, store: WorkerStore) -> None:
        self.store = store
        self.keep_days = {
            "succeeded": settings.job_retention_succeeded_days,
            "failed": settings.job_retention_failed_days,
            "canceled": settings.job_retention_canceled_days,
        }

    async def run(self) -> None:
        for status, days in self.keep_days.items():
            for _ in range(BATCHES_PER_ROUND):
                deleted = await self.store.delete_finished(status, days * 86400, BATCH)
                if deleted:
                    metrics.DELETED.labels(status).inc(deleted)
                    log.info("deleted old jobs", extra={"status": status, "jobs": deleted})
                if deleted < BATCH:
                    break
        metrics.TABLE_BYTES.set(await self.store.table_bytes())
        await self.store.fold_counts()  # the API does it too; whichever runs
