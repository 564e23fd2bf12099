"""Probes and metrics: what Kubernetes, compose and Prometheus ask."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from conveyor_core.db import UNAVAILABLE

from ..deps import AppState
from ..models import Health, Readiness

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
async def healthz() -> dict[str, str]:
    """Liveness: the process serves requests. Never checks dependencies, so a
    database outage does not make Kubernetes restart healthy API pods."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "Unready: PostgreSQL is down or not migrated"}},
)
async def readyz(state: AppState) -> JSONResponse:
    """Readiness: PostgreSQL answers and the schema is current. Redis is reported
    but not required: without it jobs are still accepted (and dispatched later)."""
    checks: dict[str, Any] = {}
    try:
        checks["postgres"] = "ok" if await state.store.schema_current() else "schema not migrated"
    except UNAVAILABLE:
        checks["postgres"] = "unavailable"
    checks["redis"] = "ok" if await state.redis_ok() else "degraded"
    ready = checks["postgres"] == "ok"
    return JSONResponse(
        {"status": "ready" if ready else "unready", "checks": checks}, status_code=200 if ready else 503
    )


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={200: {"description": "Prometheus text exposition format"}},
)
async def prometheus_metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
