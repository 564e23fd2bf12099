"""The tasks a job can run.

Adding a task is one small function with a type-annotated parameter:

    @task
    def reverse(text: str) -> str:
        return text[::-1]

The annotation is the task's input schema: the API validates a submitted input
against it (so a bad input is rejected before anything is stored) and the worker
passes the validated value to the function. A function may be async (for work
that waits); a plain function must be quick, since it runs on the worker's loop.
"""

from __future__ import annotations

import asyncio
import inspect
import re
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError


@dataclass(frozen=True)
class Task:
    name: str
    func: Callable[[Any], Any]
    adapter: TypeAdapter[Any]

    def validate(self, value: Any) -> Any:
        """The input as the function expects it; raises pydantic.ValidationError."""
        return self.adapter.validate_python(value, strict=True)

    async def run(self, value: Any) -> Any:
        result = self.func(self.validate(value))
        if isinstance(result, Awaitable):
            result = await result
        return result.model_dump() if isinstance(result, BaseModel) else result


REGISTRY: dict[str, Task] = {}


def task(func: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Register ``func`` under its own name; its one parameter's type is its input schema."""
    (param,) = inspect.signature(func).parameters.values()
    hint = get_type_hints(func, include_extras=True)[param.name]
    REGISTRY[func.__name__] = Task(func.__name__, func, TypeAdapter(hint))
    return func


def known() -> list[str]:
    return sorted(REGISTRY)


def get(name: str) -> Task | None:
    return REGISTRY.get(name)


__all__ = ["REGISTRY", "Task", "ValidationError", "get", "known", "task"]


# --- the tasks -------------------------------------------------------------------

Text = Annotated[str, Field(max_length=60_000)]
WORD = re.compile(r"[\w']+")


@task
def uppercase(text: Text) -> str:
    return text.upper()


class WordCount(BaseModel):
    words: int
    chars: int
    top: list[tuple[str, int]]


@task
def wordcount(text: Text) -> WordCount:
    """Words, characters, and the ten most frequent words (case-insensitive)."""
    words = WORD.findall(text.lower())
    return WordCount(words=len(words), chars=len(text), top=Counter(words).most_common(10))


class SleepInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seconds: float = Field(ge=0, le=60, description="How long to sleep, at most 60 s")


@task
async def sleep(params: SleepInput) -> dict[str, float]:
    """Waits, for demos and load tests."""
    await asyncio.sleep(params.seconds)
    return {"slept": params.seconds}


class FailInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message: str = Field("failed on purpose", max_length=1000)


@task
def fail(params: FailInput) -> None:
    """Always raises: shows retries with backoff and a failed job, in demos and tests."""
    raise RuntimeError(params.message)
