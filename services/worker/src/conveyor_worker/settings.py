from __future__ import annotations

from pydantic import Field

from conveyor_core.settings import CommonSettings


class WorkerSettings(CommonSettings):
    worker_metrics_port: int = Field(9000, ge=1, le=65535)
    # Jobs run at once by one worker process (async tasks such as sleep overlap;
    # CPU-bound ones run one after another on the event loop).
    worker_concurrency: int = Field(64, ge=1, le=1000)
    # Attempts per job, the first included; then the job is failed with the last error.
    job_max_attempts: int = Field(3, ge=1, le=20)
    # Backoff before attempt n+1 is base * 2^(n-1) seconds, capped at one minute.
    job_retry_base_seconds: float = Field(1.0, ge=0, le=60)
    # A stream entry unacknowledged for this long belongs to a dead worker and is
    # reclaimed by a live one. Live workers refresh their own entries well within it.
    reclaim_idle_seconds: float = Field(30, ge=1, le=3600)
    # A queued job dispatched this long ago and still not started is put on the
    # stream again (covers a Redis that lost its data).
    redispatch_after_seconds: float = Field(300, ge=10)
    # After SIGTERM, running jobs get this long to finish; the rest are handed back.
    worker_shutdown_grace: float = Field(20, ge=0, le=600)
