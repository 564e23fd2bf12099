"""Client traffic during a scenario: a trickle of jobs, or continuous requests."""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from .conveyor import Conveyor


@dataclass
class Trickle:
    """A steady trickle of small jobs submitted from a thread, every `interval` seconds."""

    base_url: str
    interval: float = 0.5
    accepted: dict[str, tuple[str, Any]] = field(default_factory=dict)
    refused: list[tuple[float, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="trickle", daemon=True)
        self._start = time.monotonic()

    def __enter__(self) -> Trickle:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def roundtrip(self, timeout: float = 30) -> bool:
        """Submits one job and waits for its success; the job joins the accepted ones."""
        with Conveyor(self.base_url, timeout=5) as api:
            try:
                job = api.submit("uppercase", "are jobs flowing?")
                self.accepted[job["id"]] = ("uppercase", "are jobs flowing?")
                return api.wait_finished([job["id"]], timeout)[job["id"]]["status"] == "succeeded"
            except (httpx.HTTPError, RuntimeError, AssertionError):
                return False

    def _run(self) -> None:
        api = Conveyor(self.base_url, timeout=5)
        for n in itertools.count():
            task, value = ("uppercase", f"trickle job {n}") if n % 2 else ("wordcount", f"a b a trickle {n}")
            try:
                job = api.submit(task, value)
                self.accepted[job["id"]] = (task, value)
            except (httpx.HTTPError, RuntimeError) as exc:
                self.refused.append((time.monotonic() - self._start, str(exc)[:120]))
            if self._stop.wait(self.interval):
                break
        api.close()


@dataclass
class Load:
    """Continuous requests from a few threads (reads and job submissions), counting failures."""

    base_url: str
    threads: int = 4
    requests: int = 0
    failures: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._workers = [
            threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(self.threads)
        ]

    def __enter__(self) -> Load:
        for t in self._workers:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._workers:
            t.join(30)

    def _run(self, index: int) -> None:
        api = Conveyor(self.base_url, timeout=10)
        for n in itertools.count():
            if self._stop.is_set():
                break
            what = ("GET /api/stats", "GET /api/jobs", "POST /api/jobs")[n % 3]
            try:
                if what == "GET /api/stats":
                    response = api.http.get("/api/stats")
                elif what == "GET /api/jobs":
                    response = api.http.get("/api/jobs", params={"limit": 5})
                else:
                    response = api.http.post(
                        "/api/jobs", json={"task": "uppercase", "input": f"roll {index}-{n}"}
                    )
                ok = response.status_code < 400
                error = f"{what}: HTTP {response.status_code} {response.text[:100]}"
            except httpx.HTTPError as exc:
                ok, error = False, f"{what}: {type(exc).__name__}: {exc}"
            with self._lock:
                self.requests += 1
                if not ok:
                    self.failures.append(error)
            time.sleep(0.02)
        api.close()
