"""The worker's small HTTP port: /healthz for probes, /metrics for Prometheus.

Served from a thread with the standard library: two read-only endpoints do not
justify a web framework in the worker image.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

# The worker loop ticks at least every READ_BLOCK_MS; silence this long means it is stuck.
STALL_SECONDS = 30


def serve(port: int, last_tick: Callable[[], float]) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/healthz":
                stalled = time.monotonic() - last_tick() > STALL_SECONDS
                self._send(
                    503 if stalled else 200,
                    b'{"status": "stalled"}' if stalled else b'{"status": "ok"}',
                    "application/json",
                )
            elif self.path == "/metrics":
                self._send(200, generate_latest(), CONTENT_TYPE_LATEST)
            else:
                self._send(
                    404, b'{"error": {"code": "not_found", "message": "no such path"}}', "application/json"
                )

        def _send(self, status: int, body: bytes, content_type: str) -> None:
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
