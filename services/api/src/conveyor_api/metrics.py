"""The API's Prometheus metrics."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

REQUESTS = Counter("conveyor_http_requests_total", "HTTP requests served", ["method", "route", "status"])
LATENCY = Histogram(
    "conveyor_http_request_duration_seconds",
    "Time to serve an HTTP request",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
SUBMITTED = Counter("conveyor_jobs_submitted_total", "Jobs accepted by the API", ["task"])
JOBS = Gauge("conveyor_jobs", "Jobs in PostgreSQL per status (refreshed every few seconds)", ["status"])
QUEUE_DEPTH = Gauge("conveyor_queue_depth", "Stream entries not yet delivered to a worker")
QUEUE_OLDEST = Gauge(
    "conveyor_queue_oldest_job_age_seconds",
    "How long the longest-waiting due queued job has waited (since submit, or since its retry fell due)",
)
RELAY_BACKLOG = Gauge("conveyor_relay_backlog", "Due queued jobs not on the stream yet (the relay's work)")
WORKERS_LIVE = Gauge("conveyor_workers_live", "Workers whose heartbeat in Redis is recent")
DEPENDENCY_UP = Gauge("conveyor_dependency_up", "1 if this process reaches the dependency", ["dependency"])
