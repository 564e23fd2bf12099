"""Conveyor's public API through the frontend (nginx proxies /api/ to the api Service)."""

from __future__ import annotations

import contextlib
import re
import time
import uuid
from collections import Counter
from typing import Any

import httpx

from .kube import wait_for

TERMINAL = {"succeeded", "failed"}
# The base ConfigMap's JOB_MAX_ATTEMPTS.
JOB_MAX_ATTEMPTS = 3
# The cluster DNS may hand out a recreated Service's old address for 30 s, nginx keeps one 10 s.
API_REACHABLE_TIMEOUT = 90.0


def expected_result(task: str, value: Any) -> Any:
    if task == "uppercase":
        return value.upper()
    if task == "sleep":
        return {"slept": value["seconds"]}
    words = re.findall(r"[\w']+", value.lower())
    top = [list(pair) for pair in Counter(words).most_common(10)]
    return {"words": len(words), "chars": len(value), "top": top}


class Conveyor:
    """The public API, through the frontend's nginx (/api/ is proxied to the api Service)."""

    def __init__(self, base_url: str, timeout: float = 5) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=timeout)

    def submit(self, task: str, value: Any) -> dict[str, Any]:
        response = self.http.post(
            "/api/jobs", json={"task": task, "input": value}, headers={"Idempotency-Key": str(uuid.uuid4())}
        )
        if response.status_code != 202:
            raise RuntimeError(f"POST /api/jobs: {response.status_code} {response.text[:200]}")
        return response.json()

    def job(self, job_id: str) -> dict[str, Any] | None:
        """The job, or None while the API cannot answer (a dependency is coming back)."""
        with contextlib.suppress(httpx.HTTPError):
            response = self.http.get(f"/api/jobs/{job_id}")
            if response.status_code == 200:
                return response.json()
            if response.status_code == 404:
                raise AssertionError(f"job {job_id} is unknown to the API")
        return None

    def wait_finished(self, ids: list[str], timeout: float) -> dict[str, dict[str, Any]]:
        finished: dict[str, dict[str, Any]] = {}

        def all_done() -> bool:
            for job_id in ids:
                if job_id not in finished:
                    job = self.job(job_id)
                    if job and job["status"] in TERMINAL:
                        finished[job_id] = job
            return len(finished) == len(ids)

        try:
            wait_for(all_done, timeout, 1, f"{len(ids)} jobs to finish")
        except AssertionError:
            late = {i: (self.job(i) or {}).get("status") for i in ids if i not in finished}
            raise AssertionError(
                f"{len(late)} of {len(ids)} jobs not finished after {timeout:.0f} s: {late}"
            ) from None
        return finished

    def wait_reachable(self, timeout: float = API_REACHABLE_TIMEOUT) -> float:
        """Seconds until the api answers through the frontend (GET /api/stats)."""
        start = time.monotonic()

        def answers() -> bool:
            with contextlib.suppress(httpx.HTTPError):
                return self.http.get("/api/stats").status_code == 200
            return False

        wait_for(answers, timeout, 0.5, f"the api to answer through the frontend at {self.http.base_url}")
        return time.monotonic() - start

    def stats(self) -> dict[str, Any]:
        return self.http.get("/api/stats").raise_for_status().json()

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Conveyor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def check_job(job: dict[str, Any], task: str, value: Any) -> list[str]:
    """What is wrong with a finished job's record: ran once to success, with the right result."""
    problems = []
    if job["status"] != "succeeded":
        problems.append(f"status {job['status']} (error: {job.get('error')})")
    want = expected_result(task, value)
    got = job.get("result")
    if isinstance(want, dict) and isinstance(got, dict):
        got = {k: got.get(k) for k in want}
    if got != want:
        problems.append(f"result {job.get('result')!r}, expected {want!r}")
    if not 1 <= (job.get("attempts") or 0) <= JOB_MAX_ATTEMPTS:
        problems.append(f"attempts {job.get('attempts')}")
    times = [job.get(k) for k in ("created_at", "started_at", "finished_at")]
    if None in times or sorted(times) != times:  # ISO 8601 UTC strings sort like times
        problems.append(f"times created/started/finished out of order: {times}")
    return [f"job {job['id']} ({task}): {p}" for p in problems]
