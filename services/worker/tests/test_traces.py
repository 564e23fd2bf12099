"""Traces from the submit to the worker's run, across the real API and worker
processes: both run traced into the SDK's InMemorySpanExporter
(tests/support/traced.py), and a last test exports over OTLP/HTTP to a
stand-in collector, as OTEL_EXPORTER_OTLP_ENDPOINT makes them do."""

import json
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.support.docker import free_port
from tests.support.fixtures import wait_finished, wait_for
from tests.support.processes import Service

PORT_VARS = {"api": "API_PORT", "worker": "WORKER_METRICS_PORT"}
CLIENT_TRACE = "0af7651916cd43dd8448eb211c80319c"
CLIENT_SPAN = "b7ad6b7169203331"
CLIENT_TRACEPARENT = f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"


@pytest.fixture
def traced(service_env: dict[str, str], migrated: None, clean: None) -> Iterator[Callable[..., Service]]:
    started: list[Service] = []

    def start(kind: str, **env: str) -> Service:
        out = tempfile.mkstemp(prefix=f"traces-{kind}-", suffix=".jsonl")[1]
        extra = {"TRACED_SERVICE": kind, "TRACES_OUT": out, **env}
        service = Service("tests.support.traced", {**service_env, **extra}, PORT_VARS[kind])
        started.append(service)
        return service.start()

    yield start
    for service in started:
        service.stop()


def spans_of(service: Service) -> list[dict[str, Any]]:
    """Stop the service (its spans are written at exit) and read them."""
    service.stop()
    text = Path(service.env["TRACES_OUT"]).read_text()
    return [json.loads(line) for line in text.splitlines()]


def only(spans: list[dict[str, Any]], name: str) -> dict[str, Any]:
    found = [span for span in spans if span["name"] == name]
    assert len(found) == 1, spans
    return found[0]


@pytest.mark.parametrize(
    "headers", [{}, {"Idempotency-Key": "trace-1"}], ids=["fast path", "route with idempotency key"]
)
def test_the_workers_span_is_a_child_of_the_submits(traced, db, headers) -> None:
    api, worker = traced("api"), traced("worker")
    with httpx.Client(base_url=api.url, timeout=10) as client:
        response = client.post("/api/jobs", json={"task": "uppercase", "input": "hi"}, headers=headers)
        assert response.status_code == 202, response.text
        job_id = response.json()["id"]
        assert wait_finished(client, job_id)["status"] == "succeeded"
    assert "traceparent" not in response.json()  # carried by the row, not shown to clients

    submit = only(spans_of(api), "POST /api/jobs")
    assert submit["kind"] == "SERVER" and submit["service"] == "conveyor-api"
    assert submit["parent_id"] is None  # no traceparent came in: a new trace
    assert submit["attributes"]["conveyor.job.id"] == job_id
    assert submit["attributes"]["http.response.status_code"] == 202
    run = only(spans_of(worker), "run uppercase")
    assert run["kind"] == "CONSUMER" and run["service"] == "conveyor-worker"
    assert (run["trace_id"], run["parent_id"]) == (submit["trace_id"], submit["span_id"])
    assert run["attributes"] == {
        "conveyor.job.id": job_id,
        "conveyor.task": "uppercase",
        "conveyor.attempt": 1,
        "conveyor.job.status": "succeeded",
    }
    row = db.execute("SELECT traceparent FROM jobs WHERE id = %s", (job_id,)).fetchone()
    assert row["traceparent"].startswith(f"00-{submit['trace_id']}-{submit['span_id']}-")  # then its flags


def test_a_clients_traceparent_is_continued_through_a_batch(traced) -> None:
    api, worker = traced("api"), traced("worker")
    jobs = [{"task": "uppercase", "input": "a"}, {"task": "wordcount", "input": "b c"}]
    with httpx.Client(base_url=api.url, timeout=10) as client:
        response = client.post(
            "/api/jobs/batch", json={"jobs": jobs}, headers={"traceparent": CLIENT_TRACEPARENT}
        )
        assert response.status_code == 202, response.text
        ids = [item["id"] for item in response.json()["items"]]
        for job_id in ids:
            assert wait_finished(client, job_id)["status"] == "succeeded"

    submit = only(spans_of(api), "POST /api/jobs/batch")
    assert (submit["trace_id"], submit["parent_id"]) == (CLIENT_TRACE, CLIENT_SPAN)
    assert submit["attributes"]["conveyor.jobs"] == 2
    runs = spans_of(worker)
    assert sorted(span["attributes"]["conveyor.job.id"] for span in runs) == sorted(ids)
    for run in runs:
        assert (run["trace_id"], run["parent_id"]) == (CLIENT_TRACE, submit["span_id"])


def test_every_attempt_joins_the_trace_after_redispatch_from_postgres(traced, rds) -> None:
    """Redis loses the entry before any worker reads it, and the retries go back
    through the relay: every attempt still has the submit's span as parent."""
    api = traced("api")
    with httpx.Client(base_url=api.url, timeout=10) as client:
        response = client.post(
            "/api/jobs",
            json={"task": "fail", "input": {"message": "again"}},
            headers={"traceparent": CLIENT_TRACEPARENT},
        )
        assert response.status_code == 202, response.text
        job_id = response.json()["id"]
        rds.flushall()  # the stream entry is gone: only the row knows the job
        worker = traced("worker")
        job = wait_finished(client, job_id, timeout=30)
    assert job["status"] == "failed" and job["attempts"] == 3

    submit = only(spans_of(api), "POST /api/jobs")
    assert (submit["trace_id"], submit["parent_id"]) == (CLIENT_TRACE, CLIENT_SPAN)
    runs = sorted(spans_of(worker), key=lambda span: span["attributes"]["conveyor.attempt"])
    assert [run["attributes"]["conveyor.attempt"] for run in runs] == [1, 2, 3]
    assert [run["attributes"]["conveyor.job.status"] for run in runs] == ["queued", "queued", "failed"]
    for run in runs:
        assert (run["trace_id"], run["parent_id"]) == (CLIENT_TRACE, submit["span_id"])
        assert run["status"] == "ERROR"


class Collector(BaseHTTPRequestHandler):
    """A stand-in OTLP/HTTP collector: keeps the spans of every export request."""

    received: list[tuple[str, Any]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.path == "/v1/traces":
            request = ExportTraceServiceRequest.FromString(body)
            for resource_spans in request.resource_spans:
                service = next(
                    a.value.string_value
                    for a in resource_spans.resource.attributes
                    if a.key == "service.name"
                )
                for scope_spans in resource_spans.scope_spans:
                    self.received.extend((service, span) for span in scope_spans.spans)
        self.send_response(200 if self.path == "/v1/traces" else 404)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[tuple[str, list[tuple[str, Any]]]]:
    received: list[tuple[str, Any]] = []
    handler = type("Handler", (Collector,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()
    server.server_close()


def test_spans_go_over_otlp_when_the_endpoint_is_set(start_service, clean, collector) -> None:
    endpoint, received = collector
    otel = {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_BSP_SCHEDULE_DELAY": "100"}
    api, _ = start_service("api", **otel), start_service("worker", **otel)
    with httpx.Client(base_url=api.url, timeout=10) as client:
        response = client.post(
            "/api/jobs",
            json={"task": "uppercase", "input": "hi"},
            headers={"traceparent": CLIENT_TRACEPARENT},
        )
        assert response.status_code == 202, response.text
        wait_finished(client, response.json()["id"])
    services = {"conveyor-api", "conveyor-worker"}
    wait_for(lambda: {service for service, _ in received} == services, what="both services' spans")
    time.sleep(0.5)  # five batch delays: time for any span that should not be there to arrive

    # One span each (an export may be retried): FastAPI's own spans of the polls stay off.
    spans = {(service, span.span_id): span for service, span in received}
    assert sorted(service for service, _ in spans) == sorted(services), received
    [submit] = [span for (service, _), span in spans.items() if service == "conveyor-api"]
    [run] = [span for (service, _), span in spans.items() if service == "conveyor-worker"]
    assert (submit.name, run.name) == ("POST /api/jobs", "run uppercase")
    assert submit.trace_id.hex() == run.trace_id.hex() == CLIENT_TRACE
    assert submit.parent_span_id.hex() == CLIENT_SPAN
    assert run.parent_span_id == submit.span_id
