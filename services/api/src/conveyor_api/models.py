"""The API's request and response bodies (they are also its OpenAPI schema)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field


class Status(StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"


class JobCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"task": "uppercase", "input": "hello"}, {"task": "sleep", "input": {"seconds": 2}}]
        },
    )

    task: str = Field(description="Name of a registered task", examples=["uppercase"])
    input: Any = Field(description="The task's input; its shape depends on the task")


class Job(BaseModel):
    id: UUID
    task: str
    input: Any
    status: Status
    result: Any = None
    error: str | None = None
    attempts: int
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


class ErrorBody(BaseModel):
    code: str
    message: str
    details: Any = None


class Error(BaseModel):
    error: ErrorBody
