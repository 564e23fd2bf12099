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
# From submit to the recorded outcome: what a client waits, queueing and retries included.
LATENCY = Histogram(
    "conveyor_job_latency_seconds",
    "Time from submit to a job's final outcome",
    ["task", "status"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
)
TIMED_OUT = Counter("conveyor_jobs_timed_out_total", "Attempts ended at their timeout", ["task"])
INFLIGHT = Gauge("conveyor_worker_inflight_jobs", "Jobs this worker is running")
STUCK_THREADS = Gauge("conveyor_worker_stuck_threads", "Threads still running a task past its timeout")
EXPIRED = Counter("conveyor_worker_leases_expired_total", "Running jobs put back in the queue by this worker")
LOST = Counter("conveyor_worker_leases_lost_total", "Jobs this worker was running when it lost their lease")
RECLAIMED = Counter("conveyor_worker_reclaimed_total", "Unclaimed stream entries taken over")
RELAYED = Counter("conveyor_worker_relayed_total", "Jobs put on the stream by the relay")
REDISPATCHED = Counter(
    "conveyor_worker_redispatched_total", "Queued jobs dispatched again because their entry may be lost"
)
DELETED = Counter("conveyor_jobs_deleted_total", "Finished jobs deleted by retention", ["status"])
TABLE_BYTES = Gauge("conveyor_jobs_table_bytes", "Size of the jobs table with its indexes and TOAST")
DEPENDENCY_UP = Gauge("conveyor_dependency_up", "1 if this process reaches the dependency", ["dependency"])
