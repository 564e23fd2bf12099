"""The worker's small HTTP port: /healthz for probes, /metrics for Prometheus.

Served from a thread with the standard library: two read-only endpoints do not
justify a web framework in the worker image. Being a thread, it still answers
when the event loop is stuck, and says so.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

# The worker's tick loop runs every second; silence this long means the event loop is stuck.
STALL_SECONDS = 30


def serve(
    port: int, last_tick: Callable[[], float], problem: Callable[[], dict[str, Any] | None]
) -> ThreadingHTTPServer:
    """``problem`` says why the worker is unhealthy (a loop that stopped, stuck
    threads), or None."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/healthz":
                trouble = problem()
                if trouble is None and time.monotonic() - last_tick() > STALL_SECONDS:
                    trouble = {"status": "stalled"}
                self._send(200 if trouble is None else 503, orjson.dumps(trouble or {"status": "ok"}))
            elif self.path == "/metrics":
                self._send(200, generate_latest(), CONTENT_TYPE_LATEST)
            else:
                self._send(404, b'{"error": {"code": "not_found", "message": "no such path"}}')

        def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass  # probes every few seconds would drown the job logs

    server = ThreadingHTTPServer(("0.0.0.0", port), Handler)  # noqa: S104 - container port
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="health", daemon=True).start()
    return server
