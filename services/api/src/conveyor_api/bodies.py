"""Request bodies are UTF-8 JSON, parsed with orjson, and hold no NUL.

A route class, so every JSON body goes through here before FastAPI validates
it: a body that is not UTF-8 JSON (bad bytes, nesting deeper than 1,024 levels,
a number too large for a double, another charset) is a 422 like any malformed
JSON, and a NUL character (which PostgreSQL cannot store) is a 422 naming the
field that holds it.
"""

from __future__ import annotations

import email.message
from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi import Request, Response
from fastapi.routing import APIRoute

from conveyor_core.db import nul_path

from .errors import ApiError

NUL_ESCAPE = b"\\u0000"  # the only way a NUL can appear in JSON text


class JsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            charset = _charset(self.headers.get("content-type", ""))
            if charset not in (None, "utf-8", "utf8"):
                raise ApiError(
                    422, "invalid_request", f"request body must be UTF-8 JSON, not charset={charset}"
                )
            body = await self.body()
            value = orjson.loads(body)  # orjson.JSONDecodeError is a json.JSONDecodeError: a 422
            if NUL_ESCAPE in body and (path := nul_path(value)) is not None:
                raise _nul_error(path)
            self._json = value
        return self._json


class JsonRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            return await handler(JsonRequest(request.scope, request.receive))

        return route


def _charset(content_type: str) -> str | None:
    message = email.message.Message()
    message["content-type"] = content_type
    charset = message.get_param("charset")
    return charset.lower() if isinstance(charset, str) else None


def _nul_error(path: list[str | int]) -> ApiError:
    message = "must not contain the NUL character (\\u0000)"
    if path[:1] == ["input"] or (path[:1] == ["jobs"] and path[2:3] == ["input"]):  # a batch item's
        where = ".".join(str(p) for p in path)
        return ApiError(
            422,
            "invalid_input",
            f"{where}: {message}",
            [{"loc": path[1:], "type": "string_nul", "msg": message}],
        )
    return ApiError(
        422,
        "invalid_request",
        f"body.{'.'.join(str(p) for p in path)}: {message}" if path else f"body: {message}",
        [{"loc": ["body", *path], "type": "string_nul", "msg": message}],
    )
