"""Running one attempt of a job: its timeout, its thread, and what comes next
(succeeded, a retry after a backoff, or failed)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import random
from typing import Any

import orjson

from conveyor_core import tasks
from conveyor_core.db import nul_path

from . import metrics
from .settings import WorkerSettings

log = logging.getLogger("conveyor.worker")

RETRY_CAP_SECONDS = 60
ERROR_MAX_CHARS = 2000


class AttemptTimeout(Exception):
    pass


class Attempts:
    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings
        self.threads = concurrent.futures.ThreadPoolExecutor(settings.worker_threads, "task")
        # Threads still running a task whose attempt already ended (timed out).
        self.abandoned: set[concurrent.futures.Future[Any]] = set()

    @property
    def too_many_stuck(self) -> bool:
        return len(self.abandoned) >= self.settings.worker_threads // 2

    def close(self) -> None:
        self.threads.shutdown(wait=False, cancel_futures=True)

    async def run(self, row: dict[str, Any]) -> dict[str, Any]:
        """Run one attempt; say how the job goes on (the fields of an Outcome)."""
        # Counted since the job was last retried by hand (the fence, row["attempts"], is not reset).
        name, attempt = row["task"], row["attempts"] - row.get("attempts_before", 0)
        max_attempts = self.settings.job_max_attempts
        if attempt > max_attempts:  # e.g. it killed the worker every time
            return {"status": "failed", "error": f"gave up after {max_attempts} attempts"}
        task = tasks.get(name)
        try:
            if task is None:
                raise LookupError(f"this worker has no task {name!r}")
            result = await self._call(task, row["input"], row["timeout_seconds"] or task.timeout)
            _check_storable(result)
        except tasks.ValidationError as exc:  # retrying cannot fix the input
            log.warning("job input invalid", extra={"task": name})
            return {"status": "failed", "error": _clip(f"invalid input: {exc.errors()[0]['msg']}")}
        except Exception as exc:
            if isinstance(exc, AttemptTimeout):
                metrics.TIMED_OUT.labels(name).inc()
                error = str(exc)
            else:
                error = _clip(f"{type(exc).__name__}: {exc}")
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

    async def _call(self, task: tasks.Task, value: Any, seconds: float) -> Any:
        future = self.threads.submit(task.call, value) if task.blocking else None
        try:
            async with asyncio.timeout(seconds) as deadline:
                if future is not None:
                    return await asyncio.wrap_future(future)
                return await task.run(value)
        except TimeoutError as exc:
            if deadline.expired():
                raise AttemptTimeout(f"timed out after {seconds:g} s") from exc
            raise  # the task's own TimeoutError: an ordinary failure
        finally:
            if future is not None and not future.done():
                self._abandon(future)

    def _abandon(self, future: concurrent.futures.Future[Any]) -> None:
        """A thread cannot be stopped: count it until its task returns by itself."""
        if future.cancel():  # still waiting for a thread: it never starts
            return
        self.abandoned.add(future)
        metrics.STUCK_THREADS.set(len(self.abandoned))

        def released(done: concurrent.futures.Future[Any]) -> None:
            self.abandoned.discard(done)
            metrics.STUCK_THREADS.set(len(self.abandoned))

        future.add_done_callback(released)
        log.warning("a timed-out task still runs in its thread", extra={"stuck_threads": len(self.abandoned)})

    def _backoff(self, attempt: int) -> float:
        delay = min(self.settings.job_retry_base_seconds * 2 ** (attempt - 1), RETRY_CAP_SECONDS)
        return delay * random.uniform(0.8, 1.2)  # noqa: S311 - jitter, not security


def _check_storable(result: Any) -> None:
    """A result PostgreSQL cannot store is the task's error, not the worker's."""
    encoded = orjson.dumps(result)
    if b"\\u0000" in encoded and (path := nul_path(result)) is not None:
        raise ValueError(f"result holds a NUL character (\\u0000) at {path or 'its top level'}")


def _clip(error: str) -> str:
    return error.replace("\x00", "\\u0000")[:ERROR_MAX_CHARS]
