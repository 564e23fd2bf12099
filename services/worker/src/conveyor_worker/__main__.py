"""``conveyor-worker``: validate the configuration, then run jobs until SIGTERM."""

from __future__ import annotations

import asyncio
import signal

from conveyor_core import db, logs, streams
from conveyor_core import settings as config

from . import health
from .settings import WorkerSettings
from .worker import Worker


async def serve(settings: WorkerSettings) -> None:
    pool = db.create_pool(settings, "conveyor-worker", max_size=4)
    # Longer than the blocking read, which must not time out on the client side.
    client = streams.create_client(settings, timeout=5)
    await pool.open(wait=False)
    worker = Worker(settings, pool, client)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, worker.stop)
    server = health.serve(settings.worker_metrics_port, lambda: worker.last_tick)
    try:
        await worker.run()
    finally:
        server.shutdown()
        await client.aclose()
        await pool.close()


def main() -> None:
    settings = config.load(WorkerSettings)
    logs.setup("worker", settings.log_level)
    asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
