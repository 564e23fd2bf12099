from __future__ import annotations

from pydantic import Field

from conveyor_core.settings import CommonSettings


class WorkerSettings(CommonSettings):
    worker_metrics_port: int = Field(9000, ge=1, le=65535)
    # Jobs run at once by one worker process (async tasks such as sleep overlap;
    # plain functions share WORKER_THREADS threads).
    worker_concurrency: int = Field(64, ge=1, le=1000)
    # Threads for tasks that are plain functions. A thread cannot be stopped:
    # when half of them are stuck in tasks past their timeout, the worker exits
    # (status 1) so that Docker or Kubernetes restarts it.
    worker_threads: int = Field(8, ge=2, le=256)
    # Attempts per job, the first included; then the job is failed with the last error.
    job_max_attempts: int = Field(3, ge=1, le=20)
    # Backoff before attempt n+1 is base * 2^(n-1) seconds, capped at one minute.
    job_retry_base_seconds: float = Field(1.0, ge=0, le=60)
    # A worker holds each running job for this long in PostgreSQL and renews
    # the lease every third of it; a job whose lease ran out (its worker died,
    # froze or lost the database) goes back to the queue and runs again.
    job_lease_seconds: float = Field(30, ge=3, le=3600)
    # A queued job dispatched this long ago and still not claimed is put on the
    # stream again: the last resort for an entry lost without any sign.
    redispatch_after_seconds: float = Field(300, ge=10)
    # After SIGTERM, running jobs get this long to finish; the rest are handed back.
    worker_shutdown_grace: float = Field(20, ge=0, le=600)
    # Finished jobs are deleted this many days after they finished, per status.
    job_retention_succeeded_days: float = Field(7, gt=0)
    job_retention_failed_days: float = Field(30, gt=0)
    job_retention_canceled_days: float = Field(30, gt=0)
