"""The job routes. No postponed annotations here: the submit body's type is a
local of create_router(), which FastAPI must see as a type, not a name."""

from typing import Annotated, Any
from uuid import UUID

import orjson
from fastapi import APIRouter, Header, Query, Response
from starlette.convertors import StringConvertor, register_url_convertor

from conveyor_core import tasks, tracing
from conveyor_core.logs import bind_job

from .. import metrics
from ..bodies import JsonRoute
from ..deps import AppState, Dispatch, Store
from ..errors import ApiError
from ..models import (
    Error,
    Job,
    JobList,
    JobPage,
    RetryMany,
    RetryManyResult,
    Stats,
    Status,
    batch_create,
    job_create,
)
from ..store import CURSOR_PATTERN, RETRY_MANY_LIMIT, Conflict, JobStore, is_due

ERRORS: dict[int | str, dict[str, Any]] = {
    422: {"model": Error, "description": "Invalid request, unknown task or invalid input"},
    503: {"model": Error, "description": "The database is unavailable (`Retry-After` says when to retry)"},
}
SUBMITTED: dict[str, Any] = {
    "description": "Accepted: the job is stored and will run",
    "headers": {
        "Location": {"description": "The job's URL", "schema": {"type": "string"}},
        "Idempotent-Replayed": {
            "description": "`true` when the `Idempotency-Key` named an earlier job, returned as it is now",
            "schema": {"type": "string", "enum": ["true"]},
        },
    },
}


async def _not_in_state(store: JobStore, job_id: UUID, why: str) -> ApiError:
    """404 for an unknown job, else 409 naming the status it is in."""
    row = await store.get(job_id)
    if row is None:
        return ApiError(404, "not_found", f"no job {job_id}")
    status = row["status"]
    return ApiError(409, "invalid_state", f"job {job_id} is {status}: {why}", {"status": status})


class JobIdConvertor(StringConvertor):
    """A path segment, but not the name of a sibling route (POST /api/jobs/batch,
    /api/jobs/retry): a GET there is a 405 for that route, not a job id that
    fails to parse. FastAPI still validates the id as a UUID (422)."""

    regex = "(?!(?:batch|retry)$)[^/]+"


register_url_convertor("job", JobIdConvertor())


def _same_job(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """What an idempotency key promises: the same task, input and timeout."""
    return (a["task"], a["input"], a["timeout_seconds"]) == (b["task"], b["input"], b["timeout_seconds"])


def _conflict(index: int) -> ApiError:
    return ApiError(
        409,
        "idempotency_conflict",
        f"body.jobs.{index}.idempotency_key named a different job; nothing was stored",
        {"index": index},
    )


def create_router() -> APIRouter:
    """Built when the app is: the submit body is a union of the tasks registered by then."""
    router = APIRouter(prefix="/api", tags=["jobs"], route_class=JsonRoute)
    JobCreate = job_create(tasks.REGISTRY)
    JobBatch = batch_create(tasks.REGISTRY)
    router.submit_body = JobCreate  # type: ignore[attr-defined]  # for the fast path

    @router.post(
        "/jobs",
        status_code=202,
        response_model=Job,
        responses={
            202: SUBMITTED,
            **ERRORS,
            408: {"model": Error, "description": "The body did not arrive in time"},
            409: {"model": Error, "description": "Idempotency key reused for another job"},
            413: {"model": Error, "description": "Body over 64 KiB"},
        },
    )
    async def submit_job(
        job: JobCreate,  # type: ignore[valid-type]
        store: Store,
        dispatcher: Dispatch,
        idempotency_key: Annotated[str | None, Header(min_length=1, max_length=200)] = None,
    ) -> Response:
        """Queue a job. Repeating a submit with the same `Idempotency-Key` returns the
        first job instead of creating a second one."""
        headers = {}
        value = job.model_dump(mode="json", include={"input"})["input"]
        if job.run_at is not None and job.delay_seconds is not None:
            raise ApiError(422, "invalid_request", "body: give run_at or delay_seconds, not both")
        row, created = await store.create(
            job.task,
            value,
            job.timeout_seconds,
            idempotency_key,
            job.run_at,
            job.delay_seconds,
            job.priority.value,
        )
        job_id = row["id"]
        bind_job(job_id)  # this request's log lines, its access line included, name the job
        tracing.tag_job(job_id, job.task)
        if not created:
            if (row["task"], row["input"], row["timeout_seconds"]) != (job.task, value, job.timeout_seconds):
                raise ApiError(409, "idempotency_conflict", "this Idempotency-Key named a different job")
            # A retried submit may follow a lost entry or a crash before the
            # XADD: dispatch again (workers claim once), or leave it to the relay.
            replayed = str(job_id), row["priority"]
            if row["status"] == "queued" and is_due(row) and not await dispatcher.dispatch(*replayed):
                await store.undispatch(job_id)
            headers["Idempotent-Replayed"] = "true"
        else:
            metrics.SUBMITTED.labels(job.task).inc()
            if is_due(row):
                await dispatcher.dispatch(str(job_id), row["priority"])
        headers["Location"] = f"/api/jobs/{job_id}"
        # Serialised once, by orjson, as the Job model would (the hot path's biggest saving).
        return Response(orjson.dumps(row, option=orjson.OPT_UTC_Z), 202, headers, "application/json")

    @router.post(
        "/jobs/batch",
        status_code=202,
        response_model=JobList,
        responses={
            202: {"description": "Accepted: every job is stored (in one transaction) and will run"},
            **ERRORS,
            408: {"model": Error, "description": "The body did not arrive in time"},
            409: {
                "model": Error,
                "description": "An item's idempotency key named another job (`details.index`)",
            },
            413: {"model": Error, "description": "Body over API_MAX_BATCH_BODY_BYTES"},
        },
    )
    async def submit_batch(batch: JobBatch, store: Store, dispatcher: Dispatch) -> dict[str, Any]:  # type: ignore[valid-type]
        """Queue up to 1,000 jobs at once, all or nothing: one invalid item (the
        error names its index and field) or one conflicting idempotency key, and
        nothing is stored. An item whose key names an earlier job returns that job."""
        items: list[dict[str, Any]] = []
        seen: dict[str, int] = {}  # idempotency key -> index in items
        same_as: dict[int, int] = {}  # an item repeating an earlier one's key (and job)
        carried = tracing.traceparent()  # every job of the batch continues the batch's span
        for i, job in enumerate(batch.jobs):
            if job.run_at is not None and job.delay_seconds is not None:
                raise ApiError(
                    422, "invalid_request", f"body.jobs.{i}: give run_at or delay_seconds, not both"
                )
            item = job.model_dump(mode="json", include={"input"})
            item.update(
                task=job.task,
                timeout_seconds=job.timeout_seconds,
                idempotency_key=job.idempotency_key,
                priority=job.priority.value,
                run_at=job.run_at,
                delay_seconds=job.delay_seconds,
                traceparent=carried,
            )
            if (key := job.idempotency_key) is not None and key in seen:
                first = items[seen[key]]
                if _same_job(first, item):
                    same_as[i] = seen[key]
                    continue
                raise _conflict(i)
            if key is not None:
                seen[key] = len(items)
            items.append(item)
        try:
            stored = iter(await store.create_many(items))
        except Conflict as exc:
            kept = [i for i in range(len(batch.jobs)) if i not in same_as]
            raise _conflict(kept[exc.index]) from None
        results: list[tuple[dict[str, Any], bool]] = []
        for i in range(len(batch.jobs)):
            results.append((results[same_as[i]][0], False) if i in same_as else next(stored))
        new = [
            (str(row["id"]), row["priority"])
            for row, created in results
            if is_due(row) and (created or row["status"] == "queued")
        ]
        for row, created in results:
            if created:
                metrics.SUBMITTED.labels(row["task"]).inc()
        if new:
            await dispatcher.dispatch_many(new)
        tracing.tag("conveyor.jobs", len(results))
        return {"items": [row for row, _ in results]}

    @router.get(
        "/jobs/{job_id:job}",
        response_model=Job,
        responses={**ERRORS, 404: {"model": Error, "description": "No such job"}},
    )
    async def get_job(job_id: UUID, store: Store) -> dict[str, Any]:
        bind_job(job_id)
        row = await store.get(job_id)
        if row is None:
            raise ApiError(404, "not_found", f"no job {job_id}")
        return row

    @router.post(
        "/jobs/{job_id}/cancel",
        response_model=Job,
        responses={
            200: {"description": "Canceled: the job was queued or scheduled and will never run"},
            202: {
                "model": Job,
                "description": "Asked to stop: the job is running; its worker records it canceled",
            },
            **ERRORS,
            404: {"model": Error, "description": "No such job"},
            409: {"model": Error, "description": "The job already finished (`details.status` says how)"},
        },
    )
    async def cancel_job(job_id: UUID, store: Store, response: Response) -> dict[str, Any]:
        """Cancel a job. A queued or scheduled job is canceled at once; a running one
        stops within a second or two and is then recorded `canceled`."""
        bind_job(job_id)
        row = await store.cancel(job_id)
        if row is None:
            raise await _not_in_state(store, job_id, "only a queued or running job can be canceled")
        if row["status"] == "running":
            response.status_code = 202
        return row

    @router.post(
        "/jobs/{job_id}/retry",
        response_model=Job,
        responses={
            200: {"description": "Back in the queue under a new attempt"},
            **ERRORS,
            404: {"model": Error, "description": "No such job"},
            409: {"model": Error, "description": "The job is not failed or canceled (`details.status`)"},
        },
    )
    async def retry_job(job_id: UUID, store: Store) -> dict[str, Any]:
        """Put a failed or canceled job back in the queue, with a fresh budget of
        attempts; a worker starts it within a second or two."""
        bind_job(job_id)
        row = await store.retry(job_id)
        if row is None:
            raise await _not_in_state(store, job_id, "only a failed or canceled job can be retried")
        return row

    @router.post("/jobs/retry", response_model=RetryManyResult, responses=ERRORS)
    async def retry_jobs(request: RetryMany, store: Store) -> dict[str, Any]:
        """Retry every failed (or canceled) job, or those of one task, after an
        incident: first with `dry_run` (the default) to see how many, then for real."""
        matched, retried = await store.retry_many(request.status, request.task, request.dry_run)
        return {"dry_run": request.dry_run, "matched": matched, "retried": retried, "limit": RETRY_MANY_LIMIT}

    @router.get("/jobs", response_model=JobPage, responses=ERRORS)
    async def list_jobs(
        store: Store,
        status: Status | None = None,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
        before: Annotated[str | None, Query(pattern=CURSOR_PATTERN, description="Cursor from `next`")] = None,
    ) -> dict[str, Any]:
        """Jobs, newest first, a page at a time (keyset pagination: stable while jobs arrive)."""
        items, cursor = await store.page(status, limit, before)
        return {"items": items, "next": cursor}

    @router.get("/stats", response_model=Stats, responses=ERRORS)
    async def stats(state: AppState) -> dict[str, Any]:
        return await state.stats()

    return router
