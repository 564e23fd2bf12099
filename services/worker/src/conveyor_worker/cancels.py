"""Cancels of running jobs: the API marks the job (``cancel_requested_at``) in
PostgreSQL, and the worker running it looks for such marks among its attempts
every CANCEL_POLL_SECONDS, then cancels the attempt and records ``canceled``.

Polling PostgreSQL rather than a Redis message: a cancel must reach the worker
through a Redis outage too, and one indexed query a second over the jobs this
worker runs costs next to nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from conveyor_core.db import UNAVAILABLE

from .store import WorkerStore

log = logging.getLogger("conveyor.worker")

CANCEL_POLL_SECONDS = 0.5


class Cancels:
    def __init__(
        self, store: WorkerStore, held: dict[str, int], running: dict, cancel: Callable[[set[str]], None]
    ) -> None:
        self.store = store
        self.held = held  # job id -> attempt
        self.running = running  # job id -> the attempt's task
        self.cancel = cancel

    async def loop(self) -> None:
        while True:
            await asyncio.sleep(CANCEL_POLL_SECONDS)
            running = {job: self.held[job] for job in list(self.running) if job in self.held}
            if not running:
                continue
            try:
                asked = await self.store.cancel_requested(running)
            except UNAVAILABLE as exc:
                log.debug("could not look for cancels", extra={"reason": str(exc).strip()})
                continue
            if asked:
                self.cancel(asked)
