"""The tasks a job can run.

Adding a task is one small function with a type-annotated parameter:

    @task
    def reverse(text: tasks.Text) -> str:
        return text[::-1]

The annotation is the task's input schema: the API validates a submitted input
against it (so a bad input is rejected before anything is stored), publishes it
in its OpenAPI document, and the worker passes the validated value to the
function. ``@task(timeout=...)`` sets how long an attempt may run by default
(a submit may ask for another ``timeout_seconds`` up to ``MAX_TIMEOUT_SECONDS``).

A function may be async (for work that waits, cancelled at its timeout) or
plain: a plain function runs in a worker thread, so that CPU work cannot stall
the worker's event loop; a thread cannot be stopped, so one that outlives its
timeout is abandoned and counted (see the worker's ``WORKER_THREADS``).

More tasks can live in other modules, imported at start from ``TASK_MODULES``.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

DEFAULT_TIMEOUT_SECONDS = 30.0
MAX_TIMEOUT_SECONDS = 3600.0


@dataclass(frozen=True)
class Task:
    name: str
    func: Callable[[Any], Any]
    hint: Any  # the parameter's annotation: the input schema
    adapter: TypeAdapter[Any]
    timeout: float
    blocking: bool  # a plain function: run it in a thread

    @property
    def description(self) -> str:
        return inspect.getdoc(self.func) or f"Runs the {self.name} task."

    def validate(self, value: Any) -> Any:
        """The input as the function expects it; raises pydantic.ValidationError."""
        return self.adapter.validate_python(value, strict=True)

    def call(self, value: Any) -> Any:
        """Run a plain function to its end (in the calling thread)."""
        return _plain(self.func(self.validate(value)))

    async def run(self, value: Any) -> Any:
        if self.blocking:
            return self.call(value)
        return _plain(await self.func(self.validate(value)))


def _plain(result: Any) -> Any:
    return result.model_dump() if isinstance(result, BaseModel) else result


REGISTRY: dict[str, Task] = {}


def task(func: Callable[[Any], Any] | None = None, /, *, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> Any:
    """Register ``func`` under its own name; its one parameter's type is its input schema."""

    def register(func: Callable[[Any], Any]) -> Callable[[Any], Any]:
        if not 0 < timeout <= MAX_TIMEOUT_SECONDS:
            raise ValueError(f"task {func.__name__}: timeout must be in (0, {MAX_TIMEOUT_SECONDS:g}] seconds")
        (param,) = inspect.signature(func).parameters.values()
        hint = get_type_hints(func, include_extras=True)[param.name]
        blocking = not inspect.iscoroutinefunction(func)
        REGISTRY[func.__name__] = Task(func.__name__, func, hint, TypeAdapter(hint), timeout, blocking)
        return func

    return register(func) if func is not None else register


def known() -> list[str]:
    return sorted(REGISTRY)


def get(name: str) -> Task | None:
    return REGISTRY.get(name)


def load(modules: Iterable[str]) -> None:
    """Import modules that register more tasks (``TASK_MODULES``), or exit with
    status 2 like any other configuration error."""
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            print(f"configuration error:\n  TASK_MODULES: cannot import {module}: {exc}", file=sys.stderr)
            raise SystemExit(2) from exc


__all__ = ["MAX_TIMEOUT_SECONDS", "REGISTRY", "Task", "Text", "ValidationError"]
__all__ += ["get", "known", "load", "task"]


# --- the tasks -------------------------------------------------------------------

# PostgreSQL cannot store NUL in text or jsonb; the API refuses it in any string,
# and the pattern says so in the published schema.
NO_NUL = r"^[^\x00]*$"
Text = Annotated[str, Field(max_length=60_000, pattern=NO_NUL)]
WORD = re.compile(r"[\w']+")


@task
def uppercase(text: Text) -> str:
    """The text in upper case."""
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


@task(timeout=90)
async def sleep(params: SleepInput) -> dict[str, float]:
    """Waits, for demos and load tests."""
    await asyncio.sleep(params.seconds)
    return {"slept": params.seconds}


class FailInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message: str = Field("failed on purpose", max_length=1000, pattern=NO_NUL)


@task
def fail(params: FailInput) -> None:
    """Always raises: shows retries with backoff and a failed job, in demos and tests."""
    raise RuntimeError(params.message)
