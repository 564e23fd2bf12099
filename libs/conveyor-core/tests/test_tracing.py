"""conveyor_core.tracing: off without an OTLP endpoint (no SDK, no thread),
on with one; the spans and their parents, with the SDK's in-memory exporter."""

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from conveyor_core import tracing

CLIENT_TRACE = "0af7651916cd43dd8448eb211c80319c"
CLIENT_SPAN = "b7ad6b7169203331"
CLIENT_TRACEPARENT = f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"

# Run in a fresh interpreter: what setup() imports and starts, and the global provider it sets.
PROBE = """
import json, sys, threading
from opentelemetry import trace
from conveyor_core import tracing
on = tracing.setup("conveyor-probe")
provider = trace.get_tracer_provider()
resource = getattr(provider, "resource", None)
print(json.dumps({
    "on": on,
    "enabled": tracing.enabled(),
    "sdk_imported": "opentelemetry.sdk" in sys.modules,
    "threads": sorted(t.name for t in threading.enumerate()),
    "provider": type(provider).__name__,
    "service": resource.attributes.get("service.name") if resource else None,
}))
"""


def probe(**env: str) -> dict:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    done = subprocess.run(
        [sys.executable, "-c", PROBE], env={**clean, **env}, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)


def test_off_without_an_endpoint_nothing_of_the_sdk_runs() -> None:
    assert probe() == {
        "on": False,
        "enabled": False,
        "sdk_imported": False,
        "threads": ["MainThread"],
        "provider": "ProxyTracerProvider",  # the API's no-op
        "service": None,
    }


def test_on_with_an_endpoint_a_batch_processor_exports() -> None:
    found = probe(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9")
    assert found["on"] and found["enabled"] and found["sdk_imported"]
    assert found["provider"] == "TracerProvider"
    assert found["service"] == "conveyor-probe"
    assert any(name.startswith("OtelBatch") for name in found["threads"]), found


def test_the_standard_variables_win() -> None:
    found = probe(OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="http://127.0.0.1:9/v1/traces", OTEL_SERVICE_NAME="mine")
    assert found["on"] and found["service"] == "mine"


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = tracing.create_provider("conveyor-test")
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use(provider)
    try:
        yield exporter
    finally:
        tracing.use(None)
        provider.shutdown()


def test_not_tracing_the_helpers_do_nothing() -> None:
    assert not tracing.enabled()
    assert tracing.traceparent() is None
    with tracing.server_span("POST", "/api/jobs", [(b"traceparent", CLIENT_TRACEPARENT.encode())]) as span:
        assert span is None
        assert tracing.traceparent() is None
    with tracing.job_span("id", "uppercase", 1, CLIENT_TRACEPARENT) as span:
        assert span is None
        tracing.job_outcome(span, "succeeded", None)


def test_a_job_span_is_a_child_of_the_carried_submit_span(exporter) -> None:
    headers = [(b"content-type", b"application/json"), (b"traceparent", CLIENT_TRACEPARENT.encode())]
    with tracing.server_span("POST", "/api/jobs", headers) as submit:
        tracing.tag_job("job-1", "uppercase")
        carried = tracing.traceparent()
        tracing.response_status(submit, 202)
    with tracing.job_span("job-1", "uppercase", 2, carried) as run:
        tracing.job_outcome(run, "queued", "RuntimeError: again")
    run_span, submit_span = exporter.get_finished_spans()[::-1]

    assert f"{submit_span.context.trace_id:032x}" == CLIENT_TRACE
    assert f"{submit_span.parent.span_id:016x}" == CLIENT_SPAN
    assert carried == f"00-{CLIENT_TRACE}-{submit_span.context.span_id:016x}-01"
    assert submit_span.attributes["conveyor.job.id"] == "job-1"
    assert submit_span.attributes["http.response.status_code"] == 202
    assert submit_span.status.is_ok
    assert run_span.context.trace_id == submit_span.context.trace_id
    assert run_span.parent.span_id == submit_span.context.span_id
    assert dict(run_span.attributes) == {
        "conveyor.job.id": "job-1",
        "conveyor.task": "uppercase",
        "conveyor.attempt": 2,
        "conveyor.job.status": "queued",
    }
    assert not run_span.status.is_ok


@pytest.mark.parametrize("carried", [None, "", "00-nonsense", f"00-{'0' * 32}-{CLIENT_SPAN}-01"])
def test_without_a_valid_traceparent_a_job_span_starts_a_trace(exporter, carried) -> None:
    # A stray current span (here the submit's) is never joined.
    with tracing.server_span("POST", "/api/jobs", []), tracing.job_span("job-1", "uppercase", 1, carried):
        pass
    run_span = exporter.get_finished_spans()[0]
    assert run_span.name == "run uppercase"
    assert run_span.parent is None


def test_a_5xx_marks_the_submit_span_an_error_a_4xx_does_not(exporter) -> None:
    for status in (422, 503):
        with tracing.server_span("POST", "/api/jobs", []) as span:
            tracing.response_status(span, status)
    client_error, server_error = exporter.get_finished_spans()
    assert client_error.status.is_unset and not server_error.status.is_ok
