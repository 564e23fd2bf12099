"""Real PostgreSQL and Redis servers for tests, in throwaway containers.

Each server gets a fixed free host port for its whole life, so a test can stop
and start it (an outage) and clients find it again at the same address.
"""

from __future__ import annotations

import socket
import subprocess
import time
import uuid
from collections.abc import Sequence


def docker(*args: str, check: bool = True) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout.strip()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Container:
    def __init__(
        self,
        kind: str,
        image: str,
        port: int,
        ready: Sequence[str],
        env: dict[str, str] | None = None,
        args: Sequence[str] = (),
    ) -> None:
        self.name = f"conveyor-test-{kind}-{uuid.uuid4().hex[:8]}"
        self.image, self.port, self.ready, self.env, self.args = image, port, ready, env or {}, args
        self.host_port = free_port()

    def run(self) -> Container:
        env = [f"--env={k}={v}" for k, v in self.env.items()]
        docker(
            "run",
            "--detach",
            f"--name={self.name}",
            f"--publish=127.0.0.1:{self.host_port}:{self.port}",
            *env,
            self.image,
            *self.args,
        )
        self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if (
                subprocess.run(
                    ["docker", "exec", self.name, *self.ready], capture_output=True, check=False
                ).returncode
                == 0
                and self._port_open()
            ):
                return
            time.sleep(0.3)
        raise TimeoutError(f"{self.name} not ready after {timeout} s:\n{docker('logs', self.name)}")

    def _port_open(self) -> bool:
        with socket.socket() as s:
            s.settimeout(1)
            return s.connect_ex(("127.0.0.1", self.host_port)) == 0

    def stop(self) -> None:
        docker("stop", "--time=5", self.name)

    def start(self) -> None:
        docker("start", self.name)
        self.wait_ready()

    def kill(self, signal: str = "SIGKILL") -> None:
        """No clean shutdown: SIGKILL is a crash; SIGQUIT is PostgreSQL's immediate stop."""
        docker("kill", f"--signal={signal}", self.name)

    def replace(self) -> None:
        """A new, empty server at the same address: the data is lost."""
        self.remove()
        self.run()

    def pause(self) -> None:
        docker("pause", self.name)

    def unpause(self) -> None:
        docker("unpause", self.name)

    def remove(self) -> None:
        docker("rm", "--force", "--volumes", self.name, check=False)


POSTGRES_PASSWORD = "test-" + uuid.uuid4().hex
REDIS_PASSWORD = "test-" + uuid.uuid4().hex


def postgres(durable: bool = False) -> Container:
    """Durable: a commit survives a crash or an immediate stop, as in
    production. Else faster, for tests that never crash it."""
    fast = ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
    return Container(
        "postgres",
        "postgres:17-alpine",
        5432,
        ready=["pg_isready", "-h", "127.0.0.1", "-U", "conveyor", "-d", "conveyor"],
        env={"POSTGRES_USER": "conveyor", "POSTGRES_DB": "conveyor", "POSTGRES_PASSWORD": POSTGRES_PASSWORD},
        args=[] if durable else fast,
    )


def redis() -> Container:
    return Container(
        "redis",
        "redis:8-alpine",
        6379,
        ready=["redis-cli", "-a", REDIS_PASSWORD, "--no-auth-warning", "ping"],
        args=["--requirepass", REDIS_PASSWORD, "--appendonly", "yes"],
    )
