"""The API's request and response bodies (they are also its OpenAPI schema)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, Union
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, create_model

from conveyor_core import schedule, tasks


def _run_at(value: Any) -> datetime | None:
    return None if value is None else schedule.parse_rfc3339(value)


RunAt = Annotated[datetime | None, PlainValidator(_run_at, json_schema_input_type=datetime | None)]
MAX_DELAY = schedule.MAX_DELAY_SECONDS
DelaySeconds = Annotated[float | None, Field(ge=0, le=schedule.MAX_DELAY_SECONDS)]


class Status(StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    canceled = "canceled"


class Priority(StrEnum):
    high = "high"
    normal = "normal"
    low = "low"


IdempotencyKey = Annotated[str | None, Field(None, min_length=1, max_length=200, pattern=tasks.NO_NUL)]
MAX_BATCH = 1000


def job_create(registry: dict[str, tasks.Task], *, batch: bool = False) -> Any:
    """The submit body: one model per task, told apart by ``task``. Each
    publishes its task's input schema and validates the input with the task's
    own (strict) validation, the one the worker applies too. A batch item also
    carries its idempotency key (a single submit sends it as a header)."""
    variants = []
    for name, task in sorted(registry.items()):
        title = "".join(part.capitalize() for part in name.replace("-", "_").split("_"))
        extra: dict[str, Any] = {}
        if batch:
            extra["idempotency_key"] = (IdempotencyKey, Field(None, description="Makes a retried batch safe"))
        variants.append(
            create_model(
                f"{title}{'BatchItem' if batch else 'Job'}",
                **extra,
                __config__=ConfigDict(
                    extra="forbid",
                    strict=True,
                    title=f"{name} job",
                    # One way to say when, or neither (at once).
                    json_schema_extra={"not": {"required": ["run_at", "delay_seconds"]}},
                ),
                __doc__=task.description,
                task=(Literal[name], Field(description="Name of a registered task")),
                input=(
                    Annotated[Any, PlainValidator(task.validate, json_schema_input_type=task.hint)],
                    Field(description=f"The input of the {name} task"),
                ),
                timeout_seconds=(
                    float,
                    Field(
                        task.timeout,
                        gt=0,
                        le=tasks.MAX_TIMEOUT_SECONDS,
                        description="How long one attempt may run before it counts as failed",
                    ),
                ),
                priority=(
                    Annotated[Priority, Field(strict=False)],  # JSON strings name the members
                    Field(
                        Priority.normal,
                        description="Workers take higher levels first (never starving lower ones)",
                    ),
                ),
                run_at=(
                    RunAt,
                    Field(None, description="When to run it (RFC 3339); a time in the past means now"),
                ),
                delay_seconds=(
                    DelaySeconds,
                    Field(
                        None,
                        description=f"Run it this many seconds from now, at most {MAX_DELAY}",
                    ),
                ),
            )
        )
    return Annotated[Union[tuple(variants)], Field(discriminator="task")]  # noqa: UP007


class Job(BaseModel):
    id: UUID
    task: str
    input: Any
    status: Status
    result: Any = None
    error: str | None = None
    attempts: int
    timeout_seconds: float | None = None
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    priority: Priority = Priority.normal
    run_at: datetime | None = Field(None, description="When the job was scheduled to run; null: at once")
    cancel_requested_at: datetime | None = Field(
        None, description="When a cancel was asked for (a running job stops within a second or two)"
    )


def batch_create(registry: dict[str, tasks.Task]) -> Any:
    item = job_create(registry, batch=True)
    return create_model(
        "JobBatch",
        __config__=ConfigDict(extra="forbid", strict=True),
        jobs=(list[item], Field(min_length=1, max_length=MAX_BATCH, description="Up to 1,000 jobs")),  # type: ignore[valid-type]
    )


class JobList(BaseModel):
    items: list[Job]


class JobPage(BaseModel):
    items: list[Job]
    next: str | None = Field(None, description="Pass as `before` to get the next, older page")


class Stats(BaseModel):
    counts: dict[Status, int]
    queue_depth: int | None = Field(
        description="Stream entries not yet delivered to a worker; null when Redis is down"
    )
    finished_last_minute: int
    workers: int | None = Field(description="Workers heard from in the last 15 s; null when Redis is down")
    redis: str = Field(description='"ok" or "degraded"')


class RetryMany(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    status: Literal["failed", "canceled"] = Field(description="Retry the jobs in this status")
    task: str | None = Field(None, max_length=200, pattern=tasks.NO_NUL, description="Only this task's jobs")
    dry_run: bool = Field(True, description="Only count them (the default): look before you leap")


class RetryManyResult(BaseModel):
    dry_run: bool
    matched: int = Field(description="Jobs in that status (and of that task) before this call")
    retried: int = Field(description="Jobs put back in the queue by this call (at most `limit`)")
    limit: int = Field(description="The most one call retries: repeat it while `matched` > `retried`")


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready", "unready"]
    checks: dict[str, str] = Field(
        description='"postgres": ok, unavailable or "schema not migrated"; "redis"'
    )


class ErrorBody(BaseModel):
    code: str
    message: str
    details: Any = None


class Error(BaseModel):
    error: ErrorBody
