"""The Redis stream that carries job dispatch.

PostgreSQL is the source of truth; the stream only says "job X is ready to run".
Workers read it through one consumer group, so each entry goes to one worker,
stays pending until that worker acknowledges it, and is reclaimed (XAUTOCLAIM)
by another worker when the first one dies.
"""

from __future__ import annotations

import redis.asyncio as redis

from .settings import CommonSettings

STREAM = "conveyor:jobs"
GROUP = "workers"
WORKERS_KEY = "conveyor:workers"  # sorted set: consumer name -> last heartbeat (unix time)
WORKER_TTL_SECONDS = 15  # a worker silent for longer is no longer counted as live


def create_client(settings: CommonSettings, *, timeout: float = 1.0) -> redis.Redis:
    password = settings.redis_password.get_secret_value() if settings.redis_password else None
    return redis.Redis.from_url(
        settings.redis_url,
        password=password,
        # Fail fast: a submit must never hang on Redis; PostgreSQL keeps the job.
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        health_check_interval=15,
        decode_responses=True,
    )


async def ensure_group(client: redis.Redis) -> None:
    """Create the stream and its consumer group if missing (idempotent)."""
    try:
        # Start at 0, not $: entries added before the group existed are still jobs.
        await client.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


async def dispatch(client: redis.Redis, job_ids: list[str]) -> None:
    """Add one stream entry per job, in one round trip."""
    async with client.pipeline(transaction=False) as pipe:
        for job_id in job_ids:
            pipe.xadd(STREAM, {"job": job_id})
        await pipe.execute()
