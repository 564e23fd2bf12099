"""Autoscaling on the queue: a burst of `sleep` jobs, then every few seconds the
queue and the worker replicas KEDA chose, until the burst is done and the
workers are back at their minimum."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client

from .conveyor import Conveyor
from .kube import Cluster

HEADER = ["t (s)", "submitted", "stream lag", "queued", "running", "done", "workers ready/wanted", "live"]
WIDTHS = [7, 10, 11, 7, 8, 6, 21, 5]


@dataclass
class Sample:
    t: float
    submitted: int
    lag: int | None
    queued: int
    running: int
    done: int
    ready: int
    wanted: int
    live: int | None

    def row(self) -> str:
        cells = [f"{self.t:.0f}", self.submitted, self.lag, self.queued, self.running, self.done]
        cells += [f"{self.ready}/{self.wanted}", self.live]
        return "  ".join(f"{'-' if c is None else c!s:>{w}}" for c, w in zip(cells, WIDTHS, strict=True))


@dataclass
class ScaleRun:
    jobs: int
    seconds_each: float
    min_replicas: int
    max_replicas: int
    samples: list[Sample] = field(default_factory=list)
    failed: int = 0

    def _first(self, predicate: Callable[[Sample], bool], after: float = 0) -> float | None:
        return next((s.t for s in self.samples if s.t >= after and predicate(s)), None)

    @property
    def first_scale_out_s(self) -> float | None:
        return self._first(lambda s: s.wanted > self.min_replicas)

    @property
    def peak_replicas(self) -> int:
        return max((s.wanted for s in self.samples), default=0)

    @property
    def drained_s(self) -> float | None:
        return self._first(lambda s: s.done + self.failed >= self.jobs)

    @property
    def back_to_min_s(self) -> float | None:
        """After the peak and the drain: scaling in while jobs still run is no scale-back."""
        peak_at = self._first(lambda s: s.wanted == self.peak_replicas) or 0
        after = max(peak_at, self.drained_s if self.drained_s is not None else float("inf"))
        return self._first(lambda s: s.wanted == s.ready == self.min_replicas, after=after)

    def summary(self) -> str:
        def seconds(value: float | None) -> str:
            return "never" if value is None else f"{value:.0f} s"

        return "\n".join(
            [
                f"burst: {self.jobs} sleep jobs of {self.seconds_each:g} s; workers {self.min_replicas}"
                f" to {self.max_replicas} (KEDA, stream lag)",
                f"first scale-out after:    {seconds(self.first_scale_out_s)}",
                f"peak worker replicas:     {self.peak_replicas}",
                f"burst finished after:     {seconds(self.drained_s)}",
                f"back to {self.min_replicas} worker(s) after: {seconds(self.back_to_min_s)}",
                f"jobs not accepted:        {self.failed}",
            ]
        )


def scaled_object(cluster: Cluster) -> dict[str, Any]:
    return client.CustomObjectsApi().get_namespaced_custom_object(
        "keda.sh", "v1alpha1", cluster.ns, "scaledobjects", "worker"
    )


def workers(cluster: Cluster) -> tuple[int, int]:
    """Ready and wanted worker replicas."""
    d = cluster.apps.read_namespaced_deployment("worker", cluster.ns)
    return d.status.ready_replicas or 0, d.spec.replicas or 0


def burst(
    cluster: Cluster,
    url: str,
    jobs: int = 600,
    seconds_each: float = 6.0,
    interval: float = 3.0,
    timeout: float = 600.0,
    progress: Callable[[str], None] = print,
) -> ScaleRun:
    spec = scaled_object(cluster)["spec"]
    run = ScaleRun(jobs, seconds_each, spec.get("minReplicaCount", 1), spec["maxReplicaCount"])
    deadline = time.monotonic() + timeout
    while workers(cluster) != (run.min_replicas, run.min_replicas):
        if time.monotonic() > deadline:
            raise AssertionError(f"workers never settled at {run.min_replicas}: {workers(cluster)}")
        time.sleep(2)
    submitted = [0]
    lock = threading.Lock()

    def submit_all() -> None:
        with Conveyor(url, timeout=30) as conveyor:

            def one(_: int) -> None:
                try:
                    conveyor.submit("sleep", {"seconds": seconds_each})
                    with lock:
                        submitted[0] += 1
                except Exception:
                    with lock:
                        run.failed += 1

            with ThreadPoolExecutor(8) as pool:
                list(pool.map(one, range(jobs)))

    with Conveyor(url, timeout=10) as conveyor:
        before = conveyor.stats()["counts"]
    finished_before = before["succeeded"] + before["failed"]
    start = time.monotonic()
    submitter = threading.Thread(target=submit_all, daemon=True)
    submitter.start()
    progress("  ".join(f"{h:>{w}}" for h, w in zip(HEADER, WIDTHS, strict=True)))
    with Conveyor(url, timeout=10) as conveyor:
        while time.monotonic() < deadline:
            stats = conveyor.stats()
            ready, wanted = workers(cluster)
            counts = stats["counts"]
            sample = Sample(
                time.monotonic() - start,
                submitted[0],
                stats["queue_depth"],
                counts["queued"],
                counts["running"],
                counts["succeeded"] + counts["failed"] - finished_before,
                ready,
                wanted,
                stats["workers"],
            )
            run.samples.append(sample)
            progress(sample.row())
            if not submitter.is_alive() and run.back_to_min_s is not None and run.drained_s is not None:
                break
            time.sleep(interval)
    return run
