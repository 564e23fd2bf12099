#!/usr/bin/env python3
"""Smoke test a running Conveyor through its public URL.

Submits a wordcount job through the frontend (which proxies /api/ to the API),
then polls the job until it has succeeded, and checks the result. Exit codes:
0 the job succeeded with the expected result, 1 it did not (failed, wrong
result, timed out), 2 bad usage.

Standard library only, so the same file runs on a bare CI runner, in the
release workflow and on a laptop: `make smoke URL=https://conveyor.example.com`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

# Answers that mean "not up yet" right after a rollout (load balancer or
# ingress still switching endpoints): retried until the deadline.
TRANSIENT_STATUS = {429, 502, 503, 504}


class SmokeError(Exception):
    """The deployment answered, but not the way a healthy Conveyor does."""


def log(message: str) -> None:
    print(f"smoke: {message}", flush=True)


def redact(url: str) -> str:
    """Drop any user:password@ from a URL before it is printed."""
    parts = urllib.parse.urlsplit(url)
    if parts.username or parts.password:
        netloc = parts.hostname or ""
        if parts.port:
            netloc += f":{parts.port}"
        parts = parts._replace(netloc=netloc)
    return urllib.parse.urlunsplit(parts)


def request(
    method: str, url: str, body: dict | None = None, headers: dict | None = None, timeout: float = 10.0
) -> tuple[int, dict, dict]:
    data = None
    all_headers = {"Accept": "application/json", **(headers or {})}
    if body is not None:
        data = json.dumps(body).encode()
        all_headers["Content-Type"] = "application/json"
    # Only http(s): main() refuses any other scheme, this keeps it that way.
    if urllib.parse.urlsplit(url).scheme not in {"http", "https"}:
        raise ValueError(f"not an http(s) URL: {redact(url)}")
    req = urllib.request.Request(url, data=data, method=method, headers=all_headers)  # noqa: S310
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310
            status, resp_headers, raw = resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        status, resp_headers, raw = err.code, dict(err.headers or {}), err.read()
    try:
        payload = json.loads(raw) if raw else {}
    except ValueError:
        payload = {"raw": raw[:200].decode(errors="replace")}
    return status, resp_headers, payload


def call_until(deadline: float, interval: float, method: str, url: str, **kwargs):
    """Call once, retrying connection errors and transient statuses until the deadline."""
    while True:
        try:
            status, headers, payload = request(method, url, **kwargs)
            if status not in TRANSIENT_STATUS:
                return status, headers, payload
            reason = f"HTTP {status}"
        except (urllib.error.URLError, TimeoutError, ConnectionError) as err:
            reason = str(getattr(err, "reason", err))
        if time.monotonic() >= deadline:
            raise SmokeError(f"{method} {redact(url)} kept failing: {reason}")
        log(f"{method} {redact(url)}: {reason}; retrying")
        time.sleep(interval)


def run(base_url: str, timeout: float, interval: float) -> dict:
    base = base_url.rstrip("/")
    deadline = time.monotonic() + timeout
    # A random word makes every run's input (and so its result) unique, so a
    # stale cached answer or a job from an earlier run cannot pass for this one.
    marker = uuid.uuid4().hex[:8]
    text = f"conveyor smoke {marker} conveyor"
    expected_words = 4

    status, _, job = call_until(
        deadline,
        interval,
        "POST",
        f"{base}/api/jobs",
        body={"task": "wordcount", "input": text},
        headers={"Idempotency-Key": f"smoke-{marker}"},
    )
    if status != 202 or "id" not in job:
        raise SmokeError(f"POST /api/jobs answered {status}: {job}")
    job_id = job["id"]
    log(f"submitted wordcount job {job_id}")

    while True:
        status, _, job = call_until(deadline, interval, "GET", f"{base}/api/jobs/{job_id}")
        if status != 200:
            raise SmokeError(f"GET /api/jobs/{job_id} answered {status}: {job}")
        state = job.get("status")
        if state == "succeeded":
            result = job.get("result") or {}
            if result.get("words") != expected_words:
                raise SmokeError(f"job {job_id} succeeded with a wrong result: {result}")
            log(f"job {job_id} succeeded: {result.get('words')} words")
            return job
        if state == "failed":
            raise SmokeError(f"job {job_id} failed: {job.get('error')}")
        if time.monotonic() >= deadline:
            raise SmokeError(f"job {job_id} still {state} after {timeout:.0f}s")
        time.sleep(interval)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="public base URL of the frontend, e.g. https://conveyor.example.com")
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="seconds to wait for the job to succeed (default 120)"
    )
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between polls (default 2)")
    args = parser.parse_args(argv)
    if not args.url.startswith(("http://", "https://")):
        parser.error("url must start with http:// or https://")
    log(f"target {redact(args.url)}")
    try:
        run(args.url, args.timeout, args.interval)
    except SmokeError as err:
        log(f"FAILED: {err}")
        return 1
    log("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
