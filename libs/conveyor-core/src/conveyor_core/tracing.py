"""Traces: an OpenTelemetry span for each submit and one for each attempt that
a worker runs, the second a child of the first.

Off unless ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or its ``_TRACES_`` variant) is
set; then spans go over OTLP/HTTP through a BatchSpanProcessor, which the
SDK's standard ``OTEL_*`` variables configure (headers, sampler, batch sizes,
``OTEL_SERVICE_NAME``). Off, the SDK is not even imported, no thread starts,
and every helper here returns at once, so the submit path pays one check.

The submit span's context travels with the job as a W3C ``traceparent`` in its
row (``jobs.traceparent``), not in the Redis entry: every way a job reaches
the stream again (the relay, a retry, an expired lease, a lost Redis) starts
from the row, and the worker's claim reads the row anyway.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
CARRIED = (b"traceparent", b"tracestate")
_w3c = TraceContextTextMapPropagator()
_tracer: trace.Tracer | None = None
_provider: Any = None


def enabled() -> bool:
    return _tracer is not None


def setup(service: str) -> bool:
    """Export spans over OTLP if an endpoint is configured; say whether tracing is on."""
    if not any(os.environ.get(name) for name in ENDPOINT_VARIABLES):
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = create_provider(service)
    # The exporter reads the endpoint, headers, timeout and TLS files from OTEL_EXPORTER_OTLP_*.
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)  # so that a task using the OpenTelemetry API joins the trace
    use(provider)
    return True


def create_provider(service: str) -> Any:
    """An SDK TracerProvider naming the service, unless OTEL_SERVICE_NAME names it."""
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider

    attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: service}
    return TracerProvider(resource=Resource.create(attributes))


def use(provider: Any) -> None:
    """Trace with this provider from now on, or not at all (None): setup's last step, and the tests'."""
    global _tracer, _provider
    _provider = provider
    _tracer = None if provider is None else provider.get_tracer("conveyor")


def shutdown() -> None:
    """Export what is still batched (atexit does it too, but not before os._exit)."""
    if _provider is not None:
        _provider.shutdown()


def traceparent() -> str | None:
    """The current span as a W3C traceparent, for the job to carry; None when not tracing."""
    if _tracer is None:
        return None
    carrier: dict[str, str] = {}
    _w3c.inject(carrier)
    return carrier.get("traceparent")


def _parent(carrier: Mapping[str, str]) -> Context:
    # An empty base: a missing or invalid traceparent starts a new trace, never joins a stray one.
    return _w3c.extract(carrier, context=Context())


@contextlib.contextmanager
def server_span(method: str, route: str, headers: Iterable[tuple[bytes, bytes]]) -> Iterator[Any]:
    """A request's span, continuing the client's trace when it sent a traceparent."""
    if _tracer is None:
        yield None
        return
    carrier = {name.decode("latin-1"): value.decode("latin-1") for name, value in headers if name in CARRIED}
    with _tracer.start_as_current_span(
        f"{method} {route}",
        context=_parent(carrier),
        kind=SpanKind.SERVER,
        attributes={"http.request.method": method, "http.route": route},
    ) as span:
        yield span


def response_status(span: Any, status: int) -> None:
    span.set_attribute("http.response.status_code", status)
    if status >= 500:  # a 4xx is the client's error, not the server's (HTTP semantic conventions)
        span.set_status(StatusCode.ERROR)


def tag_job(job_id: object, task: str) -> None:
    """Name the job on the current span (attributes may carry ids; metric labels may not)."""
    if _tracer is not None:
        span = trace.get_current_span()
        span.set_attribute("conveyor.job.id", str(job_id))
        span.set_attribute("conveyor.task", task)


def tag(name: str, value: Any) -> None:
    if _tracer is not None:
        trace.get_current_span().set_attribute(name, value)


@contextlib.contextmanager
def job_span(job_id: str, task: str, attempt: int, carried: str | None) -> Iterator[Any]:
    """An attempt's span, a child of the submit's when the job carries its traceparent."""
    if _tracer is None:
        yield None
        return
    with _tracer.start_as_current_span(
        f"run {task}",
        context=_parent({"traceparent": carried} if carried else {}),
        kind=SpanKind.CONSUMER,
        attributes={"conveyor.job.id": job_id, "conveyor.task": task, "conveyor.attempt": attempt},
    ) as span:
        yield span


def job_outcome(span: Any, status: str, error: str | None) -> None:
    """How the attempt ended: the job's next status, and an error status for a failed attempt."""
    if span is None:
        return
    span.set_attribute("conveyor.job.status", status)
    if error is not None and status != "canceled":  # a cancel is what was asked for, not a fault
        span.set_status(StatusCode.ERROR, error)
