"""``python -m tests.support.traced``: the API or the worker (``TRACED_SERVICE``
api or worker) exactly as it runs, but traced into the SDK's
InMemorySpanExporter; when the tracer provider shuts down (as the process
exits) its spans go to ``TRACES_OUT``, one JSON object a line, for the test."""

from __future__ import annotations

import json
import os
import runpy
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from conveyor_core import tracing

MODULES = {"api": "conveyor_api", "worker": "conveyor_worker"}


def as_dict(span: ReadableSpan) -> dict[str, Any]:
    assert span.context is not None
    return {
        "name": span.name,
        "kind": span.kind.name,
        "service": span.resource.attributes.get("service.name"),
        "trace_id": f"{span.context.trace_id:032x}",
        "span_id": f"{span.context.span_id:016x}",
        "parent_id": f"{span.parent.span_id:016x}" if span.parent else None,
        "attributes": dict(span.attributes or {}),
        "status": span.status.status_code.name,
    }


class Dump(SpanProcessor):
    """Writes the exporter's spans at shutdown: the API's lifespan or the SDK's atexit."""

    def __init__(self, exporter: InMemorySpanExporter) -> None:
        self.exporter = exporter

    def shutdown(self) -> None:
        lines = [json.dumps(as_dict(span)) + "\n" for span in self.exporter.get_finished_spans()]
        Path(os.environ["TRACES_OUT"]).write_text("".join(lines))


def main() -> None:
    kind = os.environ["TRACED_SERVICE"]
    exporter = InMemorySpanExporter()
    provider = tracing.create_provider(f"conveyor-{kind}")
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    provider.add_span_processor(Dump(exporter))
    tracing.use(provider)
    runpy.run_module(MODULES[kind], run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
