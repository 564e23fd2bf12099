from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Header, Query, Response

from conveyor_core import tasks
from conveyor_core.logs import bind_job

from .. import metrics
from ..deps import AppState, Dispatch, Store
from ..errors import ApiError, clean
from ..models import Error, Job, JobCreate, JobPage, Stats, Status
from ..store import CursorError

router = APIRouter(prefix="/api", tags=["jobs"])

ERRORS: dict[int | str, dict[str, Any]] = {
    422: {"model": Error, "description": "Invalid request, unknown task or invalid input"},
    503: {"model": Error, "description": "The database is unavailable"},
}


@router.post(
    "/jobs",
    status_code=202,
    response_model=Job,
    responses={
        **ERRORS,
        409: {"model": Error, "description": "Idempotency key reused for another job"},
        413: {"model": Error, "description": "Body over 64 KiB"},
    },
)
async def submit_job(
    job: JobCreate,
    response: Response,
    store: Store,
    dispatcher: Dispatch,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> dict[str, Any]:
    """Queue a job. Repeating a submit with the same `Idempotency-Key` returns the
    first job instead of creating a second one."""
    task = tasks.get(job.task)
    if task is None:
        raise ApiError(
            422,
            "unknown_task",
            f"unknown task {job.task!r}; known tasks: {', '.join(tasks.known())}",
            {"known_tasks": tasks.known()},
        )
    try:
        task.validate(job.input)
    except tasks.ValidationError as exc:
        raise ApiError(
            422, "invalid_input", f"invalid input for task {job.task!r}", clean(exc.errors())
        ) from exc

    dispatching = dispatcher.available
    row, created = await store.create(job.task, job.input, idempotency_key, dispatching)
    job_id = row["id"]
    bind_job(job_id)  # this request's log lines, its access line included, name the job
    if not created:
        if row["task"] != job.task or row["input"] != job.input:
            raise ApiError(409, "idempotency_conflict", "this Idempotency-Key was used for a different job")
        # A retried submit may follow a crash between insert and dispatch:
        # dispatch again (a duplicate entry is harmless, workers claim once).
        if row["status"] == "queued" and row["attempts"] == 0:
            await dispatcher.dispatch(str(job_id))
        response.headers["Idempotent-Replayed"] = "true"
    else:
        metrics.SUBMITTED.labels(job.task).inc()
        if dispatching and not await dispatcher.dispatch(str(job_id)):
            await store.mark_undispatched(job_id)
    response.headers["Location"] = f"/api/jobs/{job_id}"
    return row


@router.get(
    "/jobs/{job_id}",
    response_model=Job,
    responses={**ERRORS, 404: {"model": Error, "description": "No such job"}},
)
async def get_job(job_id: UUID, store: Store) -> dict[str, Any]:
    row = await store.get(job_id)
    if row is None:
        raise ApiError(404, "not_found", f"no job {job_id}")
    return row


@router.get("/jobs", response_model=JobPage, responses=ERRORS)
async def list_jobs(
    store: Store,
    status: Status | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    before: Annotated[str | None, Query(max_length=200, description="Cursor from `next`")] = None,
) -> dict[str, Any]:
    """Jobs, newest first, a page at a time (keyset pagination: stable while jobs arrive)."""
    try:
        items, cursor = await store.page(status, limit, before)
    except CursorError as exc:
        raise ApiError(422, "invalid_cursor", f"before: {exc}") from exc
    return {"items": items, "next": cursor}


@router.get("/stats", response_model=Stats, responses=ERRORS)
async def stats(state: AppState) -> dict[str, Any]:
    return await state.stats()
