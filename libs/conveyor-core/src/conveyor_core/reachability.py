"""Whether this process can reach PostgreSQL and Redis right now, for the
``conveyor_dependency_up`` gauges that the unreachable-dependency alert reads."""

from __future__ import annotations

import redis.asyncio as redis
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from .db import UNAVAILABLE

# Short, so a dead dependency does not hold up the loop that asks.
PROBE_TIMEOUT_SECONDS = 2.0


async def postgres_up(pool: AsyncConnectionPool) -> bool:
    try:
        async with pool.connection(timeout=PROBE_TIMEOUT_SECONDS) as conn:
            await conn.execute("SELECT 1")
        return True
    except (*UNAVAILABLE, PoolTimeout):
        return False


async def redis_up(client: redis.Redis) -> bool:
    try:
        return bool(await client.ping())
    except (redis.RedisError, OSError):
        return False
