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
    host: str, port: int, requests: Callable[[], tuple[bytes, float] | None], result: Result
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while (item := requests()) is not None:
            request, due = item
            if (wait := due - time.perf_counter()) > 0:
                await asyncio.sleep(wait)
            # With a fixed rate, latency counts from when the request was due, not
            # when it was sent: a server that falls behind is charged for the backlog.
            start = min(due, time.perf_counter()) if due else time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            result.latencies.append(time.perf_counter() - start)
            result.statuses[status] = result.statuses.get(status, 0) + 1
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
    rate: float | None = None,
) -> Result:
    """Send requests from ``concurrency`` connections until ``total`` were sent
    or ``duration`` seconds passed: as fast as the server answers (closed loop),
    or at a fixed ``rate`` per second (open loop)."""
    result = Result()
    counter = itertools.count()
    start = time.perf_counter()
    deadline = start + duration if duration else None

    def next_request() -> tuple[bytes, float] | None:
        n = next(counter)
        due = start + n / rate if rate else 0.0
        if total is not None and n >= total:
            return None
        if deadline is not None and max(due, time.perf_counter()) >= deadline:
            return None
        return make(n), due

    await asyncio.gather(*(_client(host, port, next_request, result) for _ in range(concurrency)))
    result.elapsed = time.perf_counter() - start
    return result
