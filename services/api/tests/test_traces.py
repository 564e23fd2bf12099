"""Not tracing (no OTEL_EXPORTER_OTLP_ENDPOINT), the API keeps no trace context:
a client's traceparent is accepted and ignored, on every submit path, and the
submit span's middleware is not in the stack. The traced paths are tested end
to end in services/worker/tests/test_traces.py."""

import pytest

from conveyor_api.app import create_app
from conveyor_api.middleware import TraceSubmits
from conveyor_api.settings import ApiSettings

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.mark.parametrize(
    "path, headers, body",
    [
        ("/api/jobs", {}, {"task": "uppercase", "input": "a"}),
        ("/api/jobs", {"Idempotency-Key": "k"}, {"task": "uppercase", "input": "a"}),
        ("/api/jobs/batch", {}, {"jobs": [{"task": "uppercase", "input": "a"}]}),
    ],
    ids=["fast path", "route", "batch"],
)
def test_not_tracing_no_trace_context_is_stored(client, db, path, headers, body) -> None:
    response = client.post(path, json=body, headers={"traceparent": TRACEPARENT, **headers})
    assert response.status_code == 202, response.text
    assert "traceparent" not in response.text
    rows = db.execute("SELECT traceparent FROM jobs").fetchall()
    assert rows == [{"traceparent": None}]


def test_not_tracing_the_span_middleware_is_not_installed() -> None:
    app = create_app(ApiSettings(postgres_password="unused"))
    assert TraceSubmits not in [m.cls for m in app.user_middleware]


def test_tracing_the_span_middleware_wraps_the_fast_path() -> None:
    from conveyor_core import tracing

    tracing.use(tracing.create_provider("conveyor-api"))
    try:
        app = create_app(ApiSettings(postgres_password="unused"))
    finally:
        tracing.use(None)
    stack = [m.cls.__name__ for m in app.user_middleware]  # outermost first
    assert stack.index("TraceSubmits") == stack.index("FastSubmit") - 1
