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

3. Bulk submit: 100,000 jobs in batches of 1,000 (POST /api/jobs/batch, 4
   clients), 2 workers running: jobs/s accepted, and jobs/s run to the end.
4. /api/stats with 1,000,000 finished jobs in the table: p50/p99 from 10 clients.
5. Scheduled jobs: 300 jobs due over the next 6 s, 2 workers: how late each
   started after its time (mean and p99).

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


def submit_request(task: str, value: object, **fields: object) -> bytes:
    return post("/api/jobs", orjson.dumps({"task": task, "input": value, **fields}))


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
        'REDISCLI_AUTH="$(cat /run/secrets/redis_password)"'
        " redis-cli DEL conveyor:jobs conveyor:jobs:high conveyor:jobs:low >/dev/null",
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


def batch_request(n: int, size: int) -> bytes:
    jobs = [{"task": "uppercase", "input": f"bulk {n} {i}"} for i in range(size)]
    return post("/api/jobs/batch", orjson.dumps({"jobs": jobs}))


def bench_bulk(total: int, size: int, workers: int) -> dict:
    reset(workers)
    start = time.perf_counter()
    sent = asyncio.run(
        run("127.0.0.1", API_PORT, lambda n: batch_request(n, size), total=total // size, concurrency=4)
    )
    accepted = time.perf_counter() - start
    wait_done(total)
    done = time.perf_counter() - start
    return {
        "jobs": total,
        "batch": size,
        "workers": workers,
        "statuses": sent.statuses,
        "accepted_jobs_per_s": round(total / accepted),
        "batch_p99_ms": round(sent.percentile(99) * 1000, 1),
        "run_to_end_jobs_per_s": round(total / done),
    }


def bench_stats(rows: int, seconds: float) -> dict:
    reset(workers=0)
    psql(
        "INSERT INTO jobs (task, input, status, attempts, started_at, finished_at, result)"
        f" SELECT 'uppercase', '\"x\"', 'succeeded', 1, now() - interval '1 hour', now() - interval '1 hour',"
        f" '\"X\"' FROM generate_series(1, {rows})"
    )
    psql("VACUUM ANALYZE jobs")
    request = b"GET /api/stats HTTP/1.1\r\nHost: localhost\r\n\r\n"
    result = asyncio.run(run("127.0.0.1", API_PORT, lambda n: request, duration=seconds, concurrency=10))
    stats = httpx.get(f"http://127.0.0.1:{API_PORT}/api/stats").json()
    return {
        "finished_jobs_in_table": stats["counts"]["succeeded"],
        "requests_per_s": round(result.count / result.elapsed),
        "p50_ms": round(result.percentile(50) * 1000, 1),
        "p99_ms": round(result.percentile(99) * 1000, 1),
    }


def bench_scheduled(jobs: int, spread: float, workers: int) -> dict:
    reset(workers)
    base = time.time() + 2

    def make(n: int) -> bytes:
        due = base + spread * n / jobs
        run_at = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(due)) + f".{int(due % 1 * 1e6):06d}Z"
        return submit_request("uppercase", f"scheduled {n}", run_at=run_at)

    asyncio.run(run("127.0.0.1", API_PORT, make, total=jobs, concurrency=10))
    wait_done(jobs)
    late = [
        float(x) for x in psql("SELECT extract(epoch FROM started_at - run_at) FROM jobs ORDER BY 1").split()
    ]
    return {
        "jobs": jobs,
        "workers": workers,
        "mean_late_s": round(sum(late) / len(late), 3),
        "p99_late_s": round(late[min(len(late) - 1, int(0.99 * len(late)))], 3),
        "early": sum(1 for x in late if x < 0),
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
    parser.add_argument("--bulk", type=int, default=100_000, help="jobs of the bulk submit run")
    parser.add_argument("--stats-rows", type=int, default=1_000_000, help="finished jobs behind /api/stats")
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
        report["bulk"] = bench_bulk(args.bulk, 1000, workers=2)
        print(f"bulk: {report['bulk']}", flush=True)
        report["scheduled"] = bench_scheduled(300, 6, workers=2)
        print(f"scheduled: {report['scheduled']}", flush=True)
        report["stats"] = bench_stats(args.stats_rows, 10)
        print(f"stats: {report['stats']}", flush=True)
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
    b, sc, st = report["bulk"], report["scheduled"], report["stats"]
    print(
        f"bulk {b['jobs']} jobs in batches of {b['batch']}: {b['accepted_jobs_per_s']} jobs/s accepted, "
        f"{b['run_to_end_jobs_per_s']} jobs/s run to the end ({b['workers']} workers)"
    )
    print(
        f"scheduled jobs: started {sc['mean_late_s']} s after their time on average, p99 {sc['p99_late_s']} s"
    )
    print(
        f"/api/stats, {st['finished_jobs_in_table']} finished jobs: p50 {st['p50_ms']}, p99 {st['p99_ms']} ms"
    )


if __name__ == "__main__":
    main()
