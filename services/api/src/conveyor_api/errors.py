"""Every error the API returns has one shape: {"error": {"code", "message", "details"}}."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.routing import Match

from conveyor_core import tasks
from conveyor_core.db import UNAVAILABLE

log = logging.getLogger("conveyor.api")


class ApiError(HTTPException):
    """An HTTPException, so that one raised while the body is read reaches its handler."""

    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(status, message)
        self.status, self.code, self.message, self.details = status, code, message, details


def body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return {"error": error}


def clean(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pydantic's error list without the echoed input (it may be 64 KiB) or doc URLs."""
    cleaned = []
    for e in errors:
        msg = e["msg"]
        if e["type"] == "json_invalid" and (reason := (e.get("ctx") or {}).get("error")):
            msg = f"{msg}: {reason}"
        cleaned.append({"loc": list(e["loc"]), "type": e["type"], "msg": msg})
    return cleaned


def summarize(errors: list[dict[str, Any]]) -> str:
    first = errors[0]
    if first["type"] == "json_invalid":
        return "request body is not valid JSON"
    where = ".".join(str(part) for part in first["loc"])
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {first['msg']}{more}"


def explain(errors: list[dict[str, Any]]) -> ApiError:
    """Say what is wrong with a request in the API's terms: the submit body is a
    union told apart by ``task``, whose tag pydantic puts in every location."""
    first = errors[0]
    if (
        list(first["loc"][:2]) == ["body", "jobs"]
        and len(first["loc"]) > 2
        and isinstance(first["loc"][2], int)
    ):
        return explain_item(errors)
    submitted = first.get("input")
    if first["type"] == "union_tag_invalid" and isinstance(submitted, dict):
        name = submitted.get("task")
        if isinstance(name, str):
            known = tasks.known()
            return ApiError(
                422,
                "unknown_task",
                f"unknown task {name!r}; known tasks: {', '.join(known)}",
                {"known_tasks": known},
            )
    fixed = []
    for e in errors:
        loc = list(e["loc"])
        if e["type"] == "union_tag_not_found":
            e = {**e, "type": "missing", "msg": "Field required"}
            loc = [*loc, "task"]
        elif loc[:1] == ["body"] and len(loc) > 1 and tasks.get(str(loc[1])) is not None:
            if loc[2:3] == ["input"] and not (len(loc) == 3 and e["type"] == "missing"):
                return ApiError(
                    422,
                    "invalid_input",
                    f"invalid input for task {loc[1]!r}",
                    clean([{**x, "loc": x["loc"][3:]} for x in errors if list(x["loc"][:3]) == loc[:3]]),
                )
            loc = [loc[0], *loc[2:]]
        fixed.append({**e, "loc": loc})
    return ApiError(422, "invalid_request", summarize(fixed), clean(fixed))


def explain_item(errors: list[dict[str, Any]]) -> ApiError:
    """The first invalid item of a batch, named by its index and field."""
    first = errors[0]
    index = first["loc"][2]
    where = f"body.jobs.{index}"
    submitted = first.get("input")
    if first["type"] == "union_tag_invalid" and isinstance(submitted, dict):
        known = tasks.known()
        name = submitted.get("task")
        return ApiError(
            422,
            "unknown_task",
            f"{where}: unknown task {name!r}; known tasks: {', '.join(known)}",
            {"index": index, "known_tasks": known},
        )
    fixed = []
    for e in errors:
        loc = list(e["loc"])
        if loc[:3] != ["body", "jobs", index]:
            continue  # only the first invalid item
        if e["type"] == "union_tag_not_found":
            e = {**e, "type": "missing", "msg": "Field required"}
            loc = [*loc, "task"]
        elif len(loc) > 3 and tasks.get(str(loc[3])) is not None:
            loc = [*loc[:3], *loc[4:]]
        fixed.append({**e, "loc": loc})
    head = fixed[0]
    bad_input = head["loc"][3:4] == ["input"] and not (len(head["loc"]) == 4 and head["type"] == "missing")
    return ApiError(422, "invalid_input" if bad_input else "invalid_request", summarize(fixed), clean(fixed))


HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 408: "request_timeout", 413: "body_too_large"}


METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def allowed_methods(request: Request) -> str:
    """Every method some route serves at this path (Starlette names only the
    methods of the first route that matched the path)."""
    routes = request.app.router.routes
    return ", ".join(
        method
        for method in METHODS
        if any(route.matches({**request.scope, "method": method})[0] == Match.FULL for route in routes)
    )


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(body(exc.code, exc.message, exc.details), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return await api_error(request, explain(list(exc.errors())))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        code = HTTP_CODES.get(exc.status_code, "http_error")
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = allowed_methods(request)
        return JSONResponse(body(code, str(exc.detail)), status_code=exc.status_code, headers=headers)

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
