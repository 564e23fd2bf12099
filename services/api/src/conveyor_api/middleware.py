"""Pure ASGI middleware (cheaper per request than Starlette's BaseHTTPMiddleware)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

import orjson
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from conveyor_core import tracing

from . import metrics

access = logging.getLogger("conveyor.api.access")
log = logging.getLogger("conveyor.api")
# Probes and scrapes every few seconds would drown the lines that matter.
QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})


async def send_json(send: Send, status: int, body: dict, headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
    payload = orjson.dumps(body)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with 413, whether the client
    declares a Content-Length (refused before reading) or streams a chunked body
    (refused as soon as the limit is passed), and bodies that take longer than
    ``timeout`` seconds to arrive with 408 (the connection is then closed)."""

    def __init__(
        self, app: ASGIApp, limit: int, timeout: float, per_path: dict[str, int] | None = None
    ) -> None:
        self.app = app
        self.default = limit
        self.per_path = per_path or {}  # paths with a limit of their own (a batch)
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.per_path.get(scope["path"], self.default)
        too_large = f"request body is larger than {limit} bytes"
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await send_json(send, 413, {"error": {"code": "body_too_large", "message": too_large}})
                return
        seen = 0
        complete = False
        deadline = asyncio.get_running_loop().time() + self.timeout

        async def limited_receive() -> Message:
            nonlocal seen, complete
            if complete:  # after the body: only a disconnect is left to wait for
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                # FastAPI passes an HTTPException from body reading through to
                # the error handlers, which give it the usual JSON shape.
                raise HTTPException(
                    408,
                    f"request body not received within {self.timeout:g} s",
                    headers={"Connection": "close"},
                ) from None
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                complete = not message.get("more_body", False)
                if seen > limit:
                    raise HTTPException(413, too_large)
            return message

        await self.app(scope, limited_receive, send)


class ServerErrors:
    """An unexpected exception becomes a JSON 500 in the one error shape, logged
    once with the request and, when the request was about a job, its id."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception:
            headers = dict(scope["headers"])
            log.exception(
                "unexpected error",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "request_id": headers.get(b"x-request-id", b"").decode("latin-1") or None,
                },
            )
            if started:
                raise  # too late for a response: the server drops the connection
            await send_json(
                send, 500, {"error": {"code": "internal_error", "message": "unexpected error; it was logged"}}
            )


class TraceSubmits:
    """A server span for each submit, single or batch, fast path or route, that
    continues the client's trace when it sends a traceparent. The app installs
    it only while tracing: otherwise a request does not pass through it at all."""

    PATHS = frozenset({"/api/jobs", "/api/jobs/batch"})

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] not in self.PATHS:
            await self.app(scope, receive, send)
            return
        with tracing.server_span("POST", scope["path"], scope["headers"]) as span:

            async def capture(message: Message) -> None:
                if message["type"] == "http.response.start":
                    tracing.response_status(span, message["status"])
                await send(message)

            await self.app(scope, receive, capture)


class Observe:
    """Count and time every request, labelled by route template rather than raw
    path (so /api/jobs/{job_id} stays one series), and log it as one JSON line,
    with the job id when the request was about one job.

    This replaces uvicorn's access log: one line per request instead of an access
    line plus an application line, which matters at a thousand requests a second.
    """

    def __init__(self, app: ASGIApp, access_log: bool = True) -> None:
        self.app = app
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        start = time.perf_counter()

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            elapsed = time.perf_counter() - start
            route = scope.get("route")
            # path_format: the template without convertors, as OpenAPI names it.
            template = getattr(route, "path_format", None) or getattr(route, "path", None) or "unmatched"
            method = scope["method"]
            metrics.REQUESTS.labels(method, template, str(status)).inc()
            metrics.LATENCY.labels(method, template).observe(elapsed)
            if self.access_log and template not in QUIET_ROUTES:
                client = scope.get("client")
                access.info(
                    "request",
                    extra={
                        "method": method,
                        "path": scope["path"],
                        "status": status,
                        "ms": round(elapsed * 1000, 2),
                        "client": client[0] if client else None,
                    },
                )
