"""`make bench`: Conveyor's numbers on this machine.

1. Submit: POST /api/jobs from 50 concurrent keep-alive clients for a fixed
   time, workers stopped so that only the submit path is measured:
   requests/s, p50 and p99 latency; once as fast as the API answers (closed
   loop: the throughput), once at a fixed 1,000 requests/s (open loop: the
   latency at the target rate, counted from when each request was due).
2. End to end: 10,000 `uppercase` jobs with 1 and then 2 workers, measured two
   ways: submitted while the workers run (jobs/s from the first submit to the
   last `succeeded`), and drained from a full queue (workers started after all
   jobs were accepted: the worker side alone).

It runs the compose stack as its own project (conveyor-bench, ports 28080 and
28000) from fresh volumes, and removes it at the end. Results are printed and
written to reports/bench.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import time
from pathlib import Path

import httpx
import orjson

from bench.compose import ComposeProject
from bench.load import post, run

ROOT = Path(__file__).resolve().parents[1]
PROJECT = "conveyor-bench"
API_PORT = 28000
# A log line per request is a real cost; the numbers are for the defaults.
compose = ComposeProject(PROJECT, 28080, API_PORT, LOG_LEVEL=os.environ.get("LOG_LEVEL", "INFO"))


def psql(sql: str) -> str:
    return compose(
        "exec", "-T", "postgres", "psql", "-U", "conveyor", "-d", "conveyor", "-At", "-c", sql
    ).strip()


def submit_request(task: str, value: object) -> bytes:
    return post("/api/jobs", orjson.dumps({"task": task, "input": value}))


def wait_done(expected: int, timeout: float = 600) -> float:
    """Seconds until `expected` jobs succeeded (polling /api/stats every 0.1 s)."""
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        stats = httpx.get(f"http://127.0.0.1:{API_PORT}/api/stats").json()
        if stats["counts"]["succeeded"] >= expected:
            return time.perf_counter() - start
        time.sleep(0.1)
    raise TimeoutError(f"{expected} jobs not done in {timeout} s")


def reset(workers: int) -> None:
    compose("up", "--detach", "--wait", "--scale", f"worker={workers}")
    psql("TRUNCATE jobs")
    # An empty stream too; the workers recreate its group when they find it gone.
    compose(
        "exec",
        "-T",
        "redis",
        "sh",
        "-c",
        'REDISCLI_AUTH="$(cat /run/secrets/redis_password)" redis-cli DEL conveyor:jobs >/dev/null',
    )


def bench_submit(seconds: float, concurrency: int, rate: float | None = None) -> dict:
    reset(workers=0)
    body = submit_request("uppercase", "benchmark")
    asyncio.run(run("127.0.0.1", API_PORT, lambda n: body, duration=2, concurrency=concurrency))  # warm-up
    result = asyncio.run(
        run("127.0.0.1", API_PORT, lambda n: body, duration=seconds, concurrency=concurrency, rate=rate)
    )
    return {
        "rate": rate or "max",
        "concurrency": concurrency,
        "seconds": round(result.elapsed, 2),
        "requests": result.count,
        "statuses": result.statuses,
        "requests_per_s": round(result.count / result.elapsed),
        "p50_ms": round(result.percentile(50) * 1000, 1),
        "p99_ms": round(result.percentile(99) * 1000, 1),
    }


def bench_end_to_end(workers: int, jobs: int, concurrency: int) -> dict:
    make = lambda n: submit_request("uppercase", f"job number {n}")  # noqa: E731
    reset(workers)
    start = time.perf_counter()
    sent = asyncio.run(run("127.0.0.1", API_PORT, make, total=jobs, concurrency=concurrency))
    wait_done(jobs)
    live = time.perf_counter() - start

    reset(workers=0)
    asyncio.run(run("127.0.0.1", API_PORT, make, total=jobs, concurrency=concurrency))
    compose("up", "--detach", "--no-recreate", "--scale", f"worker={workers}")
    drain = wait_done(jobs)  # includes the workers' start-up (about a second)
    return {
        "workers": workers,
        "jobs": jobs,
        "submit_statuses": sent.statuses,
        "while_submitting_jobs_per_s": round(jobs / live),
        "while_submitting_s": round(live, 2),
        "drain_jobs_per_s": round(jobs / drain),
        "drain_s": round(drain, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=20, help="length of the submit run")
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--rate", type=float, default=1000, help="the fixed submit rate of the second run")
    args = parser.parse_args()

    compose("down", "--volumes", "--remove-orphans")
    report: dict = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform()}}
    try:
        report["submit"] = [bench_submit(args.seconds, args.concurrency, rate) for rate in (None, args.rate)]
        for row in report["submit"]:
            print(f"submit: {row}", flush=True)
        report["end_to_end"] = [bench_end_to_end(w, args.jobs, args.concurrency) for w in (1, 2)]
        for row in report["end_to_end"]:
            print(f"end to end: {row}", flush=True)
    finally:
        compose("down", "--volumes", "--remove-orphans")
    (ROOT / "reports").mkdir(exist_ok=True)
    (ROOT / "reports" / "bench.json").write_text(json.dumps(report, indent=2))
    print()
    for s in report["submit"]:
        pace = "as fast as answered" if s["rate"] == "max" else f"paced at {s['rate']:g}/s"
        print(
            f"submit, {s['concurrency']} clients, {pace}: {s['requests_per_s']} requests/s, "
            f"p50 {s['p50_ms']} ms, p99 {s['p99_ms']} ms"
        )
    for row in report["end_to_end"]:
        print(
            f"{row['jobs']} uppercase jobs, {row['workers']} worker(s): "
            f"{row['while_submitting_jobs_per_s']} jobs/s submitted while running, "
            f"{row['drain_jobs_per_s']} jobs/s draining a full queue"
        )


if __name__ == "__main__":
    main()
