"""``conveyor-worker``: validate the configuration, then run jobs until SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

from conveyor_core import db, logs, streams, tasks, tracing
from conveyor_core import settings as config

from . import health
from .settings import WorkerSettings
from .worker import Worker


async def serve(settings: WorkerSettings) -> tuple[int, bool]:
    """Run until stopped; the exit status, and whether task threads still run."""
    pool = db.create_pool(settings, "conveyor-worker", max_size=4)
    # Longer than the blocking read, which must not time out on the client side.
    client = streams.create_client(settings, timeout=5)
    await pool.open(wait=False)
    worker = Worker(settings, pool, client)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, worker.stop)
    server = health.serve(settings.worker_metrics_port, lambda: worker.last_tick, worker.health)
    try:
        code = await worker.run()
    finally:
        server.shutdown()
        await client.aclose()
        await pool.close()
    return code, bool(worker.attempts.abandoned)


def main() -> None:
    settings = config.load(WorkerSettings)
    logs.setup("worker", settings.log_level)
    tracing.setup("conveyor-worker")
    tasks.load(settings.task_modules)
    code, threads_left = asyncio.run(serve(settings))
    if threads_left:
        # Python would wait for the stuck threads forever at exit.
        tracing.shutdown()  # os._exit skips the SDK's atexit flush of the batched spans
        logging.shutdown()
        sys.stdout.flush()
        os._exit(code)
    raise SystemExit(code)


if __name__ == "__main__":
    main()
