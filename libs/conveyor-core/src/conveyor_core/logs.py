"""Logs as one JSON object per line on stdout, with the job id where there is one.

The job id travels in a context variable, so every line logged while a job is
being handled carries it without passing it through every call.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Iterator
from contextvars import ContextVar

import orjson

job_id_var: ContextVar[str | None] = ContextVar("job_id", default=None)

# LogRecord attributes that are not "extra" fields given by the caller.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        job_id = job_id_var.get()
        if job_id is not None:
            entry["job_id"] = job_id
        for key in record.__dict__.keys() - _STANDARD:
            if not key.startswith("_"):
                entry[key] = record.__dict__[key]
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def setup(service: str, level: str = "INFO") -> None:
    """Send every logger, uvicorn's included, through one JSON handler on stdout."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True


def bind_job(job_id: object) -> None:
    """Name the job in every later log line of the current context (an HTTP
    request's task: the context ends with the request)."""
    job_id_var.set(str(job_id))


@contextlib.contextmanager
def job_context(job_id: object) -> Iterator[None]:
    token = job_id_var.set(str(job_id))
    try:
        yield
    finally:
        job_id_var.reset(token)
