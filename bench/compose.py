"""The project's docker compose file run as a separate compose project on its own host
ports, so that a stack started with `make up` is left alone (make bench, the stack tests)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class ComposeProject:
    def __init__(self, name: str, http_port: int, api_port: int, **env: str) -> None:
        self.name, self.http_port, self.api_port = name, http_port, api_port
        self.env = {
            **os.environ,
            "CONVEYOR_HTTP_PORT": str(http_port),
            "CONVEYOR_API_PORT": str(api_port),
            **env,
        }

    def __call__(self, *args: str, timeout: float = 300) -> str:
        """Run `docker compose -p NAME ARGS...`; its stdout, or an error with all it said."""
        done = subprocess.run(
            ["docker", "compose", "-p", self.name, *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"docker compose {' '.join(args)}:\n{done.stdout}\n{done.stderr}")
        return done.stdout
