"""The submit fast path: a pure ASGI middleware that serves the common
``POST /api/jobs`` (JSON, no Idempotency-Key, valid at the first try) without
FastAPI's routing, dependency injection and response handling, which the
profile put at about half of a submit's CPU time.

It only ever says yes: a request it cannot serve byte for byte as the route
would (another content type, a key, a body that does not parse or validate,
a NUL, a body it could not read) goes on to the FastAPI app, with the body it
read, so every refusal keeps the one error shape and the route stays the
reference. A 202 still comes only after the job is committed.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from pydantic import TypeAdapter, ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from conveyor_core import tracing
from conveyor_core.db import UNAVAILABLE
from conveyor_core.logs import bind_job

from . import metrics
from .bodies import NUL_ESCAPE
from .middleware import send_json
from .store import is_due

log = logging.getLogger("conveyor.api")
JSON_TYPES = (b"application/json", b"application/json; charset=utf-8")


class FastSubmit:
    def __init__(self, app: ASGIApp, body_type: Any, route: Any) -> None:
        self.app = app
        self.adapter: TypeAdapter[Any] = TypeAdapter(body_type)
        self.route = route  # the submit route: metrics and logs label requests by it

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/api/jobs" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        content_type = None
        for name, value in scope["headers"]:
            if name == b"idempotency-key":
                await self.app(scope, receive, send)
                return
            if name == b"content-type":
                content_type = value.lower()
        if content_type not in JSON_TYPES:
            await self.app(scope, receive, send)
            return
        chunks = []
        try:
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    break
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    break
        except Exception as exc:  # a 408 or 413 from BodyLimit: the route's handlers answer it
            await self.app(scope, _failing(exc), send)
            return
        body = b"".join(chunks)
        job = self._valid(body)
        if job is None:
            await self.app(scope, _replay(body, receive), send)
            return
        await self._submit(scope, send, job)

    def _valid(self, body: bytes) -> Any:
        if NUL_ESCAPE in body:
            return None
        try:
            job = self.adapter.validate_python(orjson.loads(body))
        except (orjson.JSONDecodeError, ValidationError):
            return None
        return None if job.run_at is not None and job.delay_seconds is not None else job

    async def _submit(self, scope: Scope, send: Send, job: Any) -> None:
        state = scope["app"].state.conveyor
        scope["route"] = self.route
        value = job.model_dump(mode="json", include={"input"})["input"]
        try:
            row, _ = await state.store.create(
                job.task, value, job.timeout_seconds, None, job.run_at, job.delay_seconds, job.priority.value
            )
        except UNAVAILABLE as exc:
            log.warning("database unavailable", extra={"reason": str(exc).strip()})
            state.database_failed()
            await send_json(
                send,
                503,
                {
                    "error": {
                        "code": "database_unavailable",
                        "message": "the database is unavailable; retry shortly",
                    }
                },
                [(b"retry-after", b"2")],
            )
            return
        bind_job(row["id"])
        tracing.tag_job(row["id"], job.task)
        metrics.SUBMITTED.labels(job.task).inc()
        if is_due(row):
            await state.dispatcher.dispatch(str(row["id"]), row["priority"])
        payload = orjson.dumps(row, option=orjson.OPT_UTC_Z)
        await send(
            {
                "type": "http.response.start",
                "status": 202,
                "headers": [
                    (b"content-length", str(len(payload)).encode()),
                    (b"content-type", b"application/json"),
                    (b"location", f"/api/jobs/{row['id']}".encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


def _failing(exc: Exception) -> Receive:
    async def failing() -> Message:
        raise exc

    return failing
