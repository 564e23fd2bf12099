"""The worker's Prometheus metrics."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

FINISHED = Counter("conveyor_jobs_finished_total", "Job attempts recorded, by outcome", ["task", "outcome"])
DURATION = Histogram(
    "conveyor_job_duration_seconds",
    "Time a task ran",
    ["task"],
    buckets=(0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60),
)
INFLIGHT = Gauge("conveyor_worker_inflight_jobs", "Jobs this worker is running")
RECLAIMED = Counter("conveyor_worker_reclaimed_total", "Stream entries taken over from dead workers")
RELAYED = Counter("conveyor_worker_relayed_total", "Jobs put on the stream by the relay")
