"""uvicorn, with the limits on slow and greedy clients that its options lack.

uvicorn closes idle kept-alive connections and trusts forwarded headers only
from listed proxies, but it waits forever for a request's head and accepts a
head of any size. This protocol adds both to its httptools protocol: the head
must arrive within ``header_timeout`` (408) and fit in ``max_header_bytes``
(431); a body still incomplete ``body_timeout`` after its head (a body the app
never read) closes the connection. The app itself answers 408 to a body that
it waits for too long (middleware.BodyLimit). Beyond ``max_connections`` open
connections (or as many requests in progress) requests get 503, as with
uvicorn's ``limit_concurrency``. Every refusal is JSON in the API's one shape.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import orjson
import uvicorn
from starlette.types import Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .middleware import send_json
from .settings import ApiSettings

log = logging.getLogger("conveyor.api")

# A body the app never reads is closed a little after the app's own deadline.
UNREAD_BODY_MARGIN_SECONDS = 1.0
# After a refusal, what the client still sends is read and dropped this long
# before closing: closing with unread data would reset the connection, and
# the client could lose the answer (a lingering close, as nginx does).
LINGER_SECONDS = 2.0


@dataclass(frozen=True)
class Limits:
    header_timeout: float
    body_timeout: float
    max_header_bytes: int
    max_connections: int


async def overloaded(scope: Scope, receive: Receive, send: Send) -> None:
    """The app for a request beyond the connection cap."""
    await send_json(
        send,
        503,
        {"error": {"code": "overloaded", "message": "too many connections; retry shortly"}},
        [(b"retry-after", b"1"), (b"connection", b"close")],
    )


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    limits: Limits  # set on the subclass made by protocol()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:  # type: ignore[override]
        super().connection_made(transport)  # type: ignore[arg-type]
        self._timer: asyncio.TimerHandle | None = None
        self._head_bytes = 0
        self._in_head = True
        self._refused = False
        # A new connection that says nothing is not kept forever either.
        self._arm(self.limits.header_timeout, self._head_late)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if self._in_head and self._head_bytes > self.limits.max_header_bytes:
            self._refuse(431, "headers_too_large", f"request head over {self.limits.max_header_bytes} bytes")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._timer is None:  # the next request on a kept-alive connection
            self._arm(self.limits.header_timeout, self._head_late)

    def on_headers_complete(self) -> None:
        self._in_head, self._head_bytes = False, 0
        self._arm(self.limits.body_timeout + UNREAD_BODY_MARGIN_SECONDS, self._body_late)
        cap = self.limits.max_connections
        if len(self.connections) > cap or len(self.tasks) >= cap:
            log.warning("over the connection cap", extra={"connections": len(self.connections)})
            app, self.app = self.app, overloaded  # this request only
            try:
                super().on_headers_complete()
            finally:
                self.app = app
            return
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        self._in_head = True
        super().on_message_complete()

    def send_400_response(self, msg: str) -> None:
        self._refuse(400, "invalid_http", "the request is not valid HTTP/1.1")

    def _arm(self, seconds: float, callback: Any) -> None:
        self._disarm()
        self._timer = self.loop.call_later(seconds, callback)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _head_late(self) -> None:
        self._timer = None
        if self._head_bytes:
            self._refuse(
                408, "request_timeout", f"request head not received within {self.limits.header_timeout:g} s"
            )
        else:
            self.transport.close()

    def _body_late(self) -> None:
        self._timer = None
        self.transport.close()

    def _refuse(self, status: int, code: str, message: str) -> None:
        """Answer from the protocol itself, then close (no request reached the app)."""
        if self.transport.is_closing() or self._refused:
            return
        self._refused = True
        self._disarm()
        body = orjson.dumps({"error": {"code": code, "message": message}})
        reason = HTTPStatus(status).phrase.encode()
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
            b"connection: close\r\n\r\n%s" % (status, reason, len(body), body)
        )
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER_SECONDS, self.transport.close)


def protocol(settings: ApiSettings) -> type[LimitedHttpToolsProtocol]:
    limits = Limits(
        settings.api_header_timeout,
        settings.api_body_timeout,
        settings.api_max_header_bytes,
        settings.api_max_connections,
    )
    return type("ConveyorHttpProtocol", (LimitedHttpToolsProtocol,), {"limits": limits})


def run(app: Any, settings: ApiSettings) -> None:
    uvicorn.run(
        app,
        host=settings.api_host,
        port=settings.api_port,
        http=protocol(settings),
        log_config=None,  # keep the JSON logging set up by the caller
        access_log=False,  # the Observe middleware logs each request, with its job id
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        server_header=False,
        timeout_keep_alive=settings.api_keepalive_timeout,
        # On SIGTERM uvicorn stops accepting, lets in-flight requests finish for
        # at most this long, then exits: well inside a 10 s grace period.
        timeout_graceful_shutdown=settings.shutdown_timeout,
    )
