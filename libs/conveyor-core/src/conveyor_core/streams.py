"""The Redis stream that carries job dispatch.

PostgreSQL is the source of truth; the stream only says "job X is ready to run".
Workers read it through one consumer group, so each entry goes to one worker,
which acknowledges it as soon as it holds the job's lease in PostgreSQL: from
then on the job's recovery needs nothing from Redis. Redis may lose entries (a
restart that lost its AOF tail, a failover, FLUSHALL, a new empty server): the
epoch below tells when, and the workers then dispatch every queued job again.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

import redis.asyncio as redis

from .settings import CommonSettings

STREAM = "conveyor:jobs"  # normal priority (the name it had before there were levels)
# One stream per priority, highest first.
PRIORITIES = ("high", "normal", "low")
STREAMS = {"high": "conveyor:jobs:high", "normal": STREAM, "low": "conveyor:jobs:low"}
# The stream a worker reads first, read after read: high in 6 of 10, normal in
# 3, low in 1; the others follow in priority order. So higher levels go first
# most of the time, and a backlog of high jobs cannot starve the lower levels:
# each still gets its turn first, at least one read in ten.
FIRST = ("high", "normal", "high", "high", "normal", "high", "low", "high", "normal", "high")
GROUP = "workers"
WORKERS_KEY = "conveyor:workers"  # sorted set: consumer name -> last heartbeat (unix time)
WORKER_TTL_SECONDS = 15  # a worker silent for longer is no longer counted as live
EPOCH_KEY = "conveyor:epoch"  # a marker that disappears with the data set
# A new job is dispatched by the API that accepted it; the relay takes over a
# job still undispatched this long after it was created (an API that crashed
# between its INSERT and its XADD, or whose XADD failed).
DISPATCH_GRACE_SECONDS = 2.0
# SQL: when the workers last found Redis to be a new data set. A job may be
# marked dispatched only if its XADD began after that (else it may be lost).
EPOCH_CHANGED = "(SELECT coalesce(max(changed_at), '-infinity') FROM redis_epoch)"


def create_client(settings: CommonSettings, *, timeout: float = 1.0) -> redis.Redis:
    password = settings.redis_password.get_secret_value() if settings.redis_password else None
    # rediss:// verifies the server's certificate and name (redis-py's defaults), against this CA if set.
    tls = {"ssl_ca_certs": settings.redis_ssl_ca_certs} if settings.redis_url.startswith("rediss://") else {}
    return redis.Redis.from_url(
        settings.redis_url,
        password=password,
        **tls,
        # Fail fast: a submit must never hang on Redis; PostgreSQL keeps the job.
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        health_check_interval=15,
        decode_responses=True,
    )


async def ensure_group(client: redis.Redis) -> None:
    """Create the stream and its consumer group if missing (idempotent)."""
    for stream in STREAMS.values():
        try:
            # Start at 0, not $: entries added before the group existed are still jobs.
            await client.xgroup_create(stream, GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise


def read_order(read: int) -> list[str]:
    """The streams in the order the ``read``-th read takes them."""
    first = FIRST[read % len(FIRST)]
    return [STREAMS[first], *(STREAMS[p] for p in PRIORITIES if p != first)]


async def dispatch(client: redis.Redis, jobs: Iterable[tuple[str, str]]) -> None:
    """Add one entry per (job id, priority) to its level's stream, in one round trip."""
    async with client.pipeline(transaction=False) as pipe:
        for job_id, priority in jobs:
            pipe.xadd(STREAMS[priority], {"job": job_id})
        await pipe.execute()


async def epoch(client: redis.Redis) -> str:
    """Names the data set the entries live in: the server's run_id changes with
    every restart or failover, the marker with FLUSHALL or a new empty server."""
    async with client.pipeline(transaction=False) as pipe:
        pipe.info("server")
        pipe.set(EPOCH_KEY, uuid.uuid4().hex, nx=True)
        pipe.get(EPOCH_KEY)
        info, _, marker = await pipe.execute()
    return f"{info['run_id']}/{marker}"
