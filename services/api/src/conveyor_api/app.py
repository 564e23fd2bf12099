"""The FastAPI application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from conveyor_core import settings as config
from conveyor_core import tracing

from . import errors
from .fastpath import FastSubmit
from .middleware import BodyLimit, Observe, ServerErrors, TraceSubmits
from .routes import health, jobs
from .settings import ApiSettings
from .state import State


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    settings = settings or config.load(ApiSettings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = State(settings)
        await state.open()
        app.state.conveyor = state
        try:
            yield
        finally:
            await state.close()
            # uvicorn re-raises SIGTERM once shut down, so atexit would never export the last spans.
            tracing.shutdown()

    app = FastAPI(
        title="Conveyor API",
        summary="Submit jobs, follow them to the end, watch the queue.",
        version="0.1.0",
        docs_url="/api/docs",
        openapi_url="/api/openapi.json",
        redoc_url=None,
        lifespan=lifespan,
        # FastAPI's own spans would wrap every probe, scrape and poll, and not know the job: ours suffice.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    errors.install(app)
    job_routes = jobs.create_router()
    app.include_router(job_routes)
    app.include_router(health.router)
    submit = next(r for r in job_routes.routes if r.path == "/api/jobs" and "POST" in r.methods)
    # Innermost: the limits, the 500s and the metrics below apply to the fast path too.
    app.add_middleware(FastSubmit, body_type=job_routes.submit_body, route=submit)
    if tracing.enabled():  # around both submit paths; when not tracing, not in the stack at all
        app.add_middleware(TraceSubmits)
    # The last added is the outermost: Observe sees every response, the 413s
    # and the 500s made by ServerErrors included.
    app.add_middleware(ServerErrors)
    app.add_middleware(
        BodyLimit,
        limit=settings.max_body_bytes,
        timeout=settings.api_body_timeout,
        per_path={"/api/jobs/batch": settings.max_batch_body_bytes},
    )
    app.add_middleware(Observe, access_log=settings.access_log)
    return app
