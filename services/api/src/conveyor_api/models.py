"""The API's request and response bodies (they are also its OpenAPI schema)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, Union
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, create_model

from conveyor_core import tasks


class Status(StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"


def job_create(registry: dict[str, tasks.Task]) -> Any:
    """The submit body: one model per task, told apart by ``task``. Each
    publishes its task's input schema and validates the input with the task's
    own (strict) validation, the one the worker applies too."""
    variants = []
    for name, task in sorted(registry.items()):
        title = "".join(part.capitalize() for part in name.replace("-", "_").split("_"))
        variants.append(
            create_model(
                f"{title}Job",
                __config__=ConfigDict(extra="forbid", strict=True, title=f"{name} job"),
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
