"""A small HTTP/1.1 keep-alive load generator on asyncio streams.

Why not httpx or aiohttp: on a 2-core machine the load generator shares the
CPU with the system under test, so it must cost as little per request as
possible. Raw keep-alive connections with prebuilt requests do.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    bodies: list[bytes] = field(default_factory=list)
    elapsed: float = 0.0

    @property
    def count(self) -> int:
        return len(self.latencies)

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else float("nan")


def post(path: str, body: bytes, host: str = "localhost") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


async def _client(
    host: str, port: int, requests: Callable[[], bytes | None], result: Result, keep: bool
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while (request := requests()) is not None:
            start = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            body = await reader.readexactly(length)
            result.latencies.append(time.perf_counter() - start)
            result.statuses[status] = result.statuses.get(status, 0) + 1
            if keep:
                result.bodies.append(body)
    finally:
        writer.close()


async def run(
    host: str,
    port: int,
    make: Callable[[int], bytes],
    *,
    total: int | None = None,
    duration: float | None = None,
    concurrency: int = 50,
    keep_bodies: bool = False,
) -> Result:
    """Send requests from ``concurrency`` connections until ``total`` were sent
    or ``duration`` seconds passed."""
    result = Result()
    counter = itertools.count()
    deadline = time.perf_counter() + duration if duration else None

    def next_request() -> bytes | None:
        n = next(counter)
        if total is not None and n >= total:
            return None
        if deadline is not None and time.perf_counter() >= deadline:
            return None
        return make(n)

    start = time.perf_counter()
    await asyncio.gather(
        *(_client(host, port, next_request, result, keep_bodies) for _ in range(concurrency))
    )
    result.elapsed = time.perf_counter() - start
    return result
