"""Every error the API returns has one shape: {"error": {"code", "message", "details"}}."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from conveyor_core.db import UNAVAILABLE

log = logging.getLogger("conveyor.api")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details


def body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return {"error": error}


def clean(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pydantic's error list without the echoed input (it may be 64 KiB) or doc URLs."""
    return [{"loc": list(e["loc"]), "type": e["type"], "msg": e["msg"]} for e in errors]


def summarize(errors: list[dict[str, Any]]) -> str:
    first = errors[0]
    if first["type"] == "json_invalid":
        return "request body is not valid JSON"
    where = ".".join(str(part) for part in first["loc"])
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {first['msg']}{more}"


HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(body(exc.code, exc.message, exc.details), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        return JSONResponse(body("invalid_request", summarize(errors), clean(errors)), status_code=422)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        code = HTTP_CODES.get(exc.status_code, "http_error")
        return JSONResponse(
            body(code, str(exc.detail)), status_code=exc.status_code, headers=getattr(exc, "headers", None)
        )

    for error_type in UNAVAILABLE:

        @app.exception_handler(error_type)
        async def database_down(request: Request, exc: Exception) -> JSONResponse:
            log.warning("database unavailable", extra={"reason": str(exc).strip()})
            request.app.state.conveyor.database_failed()
            return JSONResponse(
                body("database_unavailable", "the database is unavailable; retry shortly"),
                status_code=503,
                headers={"Retry-After": "2"},
            )
