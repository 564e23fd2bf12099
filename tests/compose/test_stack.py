"""The docker compose stack itself, as a user runs it: built, started from
nothing, used through the frontend's port, disturbed, and removed.

Runs as its own compose project (conveyor-test) on ports 18080/18000, so a
stack started with `make up` is left alone.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench.compose import ComposeProject
from tests.support.fixtures import wait_for

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "conveyor-test"
HTTP_PORT, API_PORT = 18080, 18000
BASE = f"http://127.0.0.1:{HTTP_PORT}"
compose = ComposeProject(PROJECT, HTTP_PORT, API_PORT)
ENV = compose.env

pytestmark = pytest.mark.stack


def docker(*args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True).stdout.strip()


def inspect(container: str) -> dict:
    return json.loads(docker("inspect", container))[0]


def container_of(service: str) -> str:
    ids = compose("ps", "-q", service).split()
    assert len(ids) == 1, f"{service}: {ids}"
    return ids[0]


def project_volumes() -> list[str]:
    return docker("volume", "ls", "-q", "--filter", f"label=com.docker.compose.project={PROJECT}").split()


@pytest.fixture(scope="module")
def stack() -> Iterator[None]:
    compose("down", "--volumes", "--remove-orphans")
    compose("up", "--detach", "--build", "--wait", timeout=900)
    try:
        yield
    finally:
        logs = compose("logs", "--no-color", "--tail=200")
        compose("down", "--volumes", "--remove-orphans")
        Path(ROOT / "reports").mkdir(exist_ok=True)
        (ROOT / "reports" / "compose-test.log").write_text(logs)
    assert project_volumes() == [], "docker compose down --volumes left volumes behind"


@pytest.fixture
def http(stack: None) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=BASE, timeout=10) as client:
        yield client


def submit(http: httpx.Client, task: str, value: object) -> str:
    """Submit through the frontend's port, retrying through an outage with an
    idempotency key, as a careful client does: accepted once, never twice."""
    key = str(uuid.uuid4())

    def attempt() -> str | None:
        try:
            response = http.post(
                "/api/jobs", json={"task": task, "input": value}, headers={"Idempotency-Key": key}
            )
        except httpx.TransportError:
            return None
        return response.json()["id"] if response.status_code == 202 else None

    return wait_for(attempt, timeout=60, interval=0.5, what="the submit to be accepted")


def job(http: httpx.Client, job_id: str) -> dict | None:
    try:
        response = http.get(f"/api/jobs/{job_id}")
    except httpx.TransportError:
        return None
    return response.json() if response.status_code == 200 else None


def wait_all_succeeded(http: httpx.Client, ids: list[str], timeout: float = 90) -> list[dict]:
    def done() -> list[dict] | None:
        jobs = [job(http, job_id) for job_id in ids]
        if all(j and j["status"] in ("succeeded", "failed") for j in jobs):
            return jobs
        return None

    jobs = wait_for(done, timeout=timeout, interval=0.5, what=f"{len(ids)} jobs to finish")
    assert [j["status"] for j in jobs] == ["succeeded"] * len(ids), jobs
    return jobs


def test_dashboard_and_jobs_through_the_frontend_port(http) -> None:
    page = http.get("/")
    assert page.status_code == 200 and "<html" in page.text.lower()
    ids = [submit(http, "uppercase", f"job {i}") for i in range(5)]
    jobs = wait_all_succeeded(http, ids)
    assert [j["result"] for j in jobs] == [f"JOB {i}" for i in range(5)]
    assert httpx.get(f"http://127.0.0.1:{API_PORT}/readyz").json()["status"] == "ready"


def test_every_container_runs_as_a_non_root_user(stack) -> None:
    containers = compose("ps", "-q").split()
    assert len(containers) == 5  # postgres, redis, api, worker, frontend (migrate has exited)
    for container in containers:
        name = inspect(container)["Name"]
        top = subprocess.run(
            ["docker", "top", container, "-eo", "pid,uid"], capture_output=True, text=True, check=True
        ).stdout.splitlines()[1:]
        uids = {line.split()[1] for line in top}
        assert uids and "0" not in uids, f"{name} runs processes as root: {top}"


def test_only_the_frontend_and_api_are_published_on_loopback(stack) -> None:
    published = {}
    for container in compose("ps", "-q").split():
        info = inspect(container)
        service = info["Config"]["Labels"]["com.docker.compose.service"]
        bindings = [b for ports in (info["HostConfig"]["PortBindings"] or {}).values() for b in ports or []]
        published[service] = sorted((b["HostIp"], b["HostPort"]) for b in bindings)
    assert published == {
        "frontend": [("127.0.0.1", str(HTTP_PORT))],
        "api": [("127.0.0.1", str(API_PORT))],
        "worker": [],
        "postgres": [],
        "redis": [],
    }


def test_restarting_postgres_loses_no_job(http) -> None:
    before = [submit(http, "uppercase", f"before {i}") for i in range(10)]
    wait_all_succeeded(http, before)
    queued = [submit(http, "sleep", {"seconds": 1}) for _ in range(3)]
    compose("restart", "postgres")
    after = [submit(http, "wordcount", f"after restart {i}") for i in range(10)]
    jobs = wait_all_succeeded(http, before + queued + after)
    assert all(j["attempts"] >= 1 for j in jobs)
    listed = {j["id"] for j in http.get("/api/jobs", params={"limit": 100}).json()["items"]}
    assert set(before + queued + after) <= listed


def addresses(container: str) -> dict[str, str]:
    """network -> the container's IPv4 address on it."""
    return {net: s["IPAddress"] for net, s in inspect(container)["NetworkSettings"]["Networks"].items()}


def test_the_frontend_follows_a_recreated_api_to_its_new_address(http) -> None:
    """nginx looks `api` up again while it runs (services/frontend/entrypoint.sh):
    an api container recreated at another address is reached again through the
    same frontend process, with no restart of the frontend."""
    frontend = inspect(container_of("frontend"))
    old = addresses(container_of("api"))
    compose("rm", "--stop", "--force", "api")
    # Docker gives a new container the lowest free address, which would be the
    # old one again: a placeholder takes it first, on every network of the api.
    image = inspect(container_of("redis"))["Config"]["Image"]
    networks = list(old)
    holder = docker("run", "--detach", "--network", networks[0], "--entrypoint", "sleep", image, "600")
    try:
        for network in networks[1:]:
            docker("network", "connect", network, holder)
        compose("up", "--detach", "--no-deps", "--wait", "api")
    finally:
        docker("rm", "--force", holder)
    new = addresses(container_of("api"))
    assert set(new.values()).isdisjoint(old.values()), f"same address after recreate: {old} {new}"

    def through_frontend() -> bool:
        try:
            return http.get("/api/stats").status_code == 200
        except httpx.TransportError:
            return False

    wait_for(through_frontend, timeout=30, interval=0.5, what="the frontend to reach the new api")
    still = inspect(frontend["Id"])
    assert still["State"]["StartedAt"] == frontend["State"]["StartedAt"]
    assert still["RestartCount"] == frontend["RestartCount"]
    ids = [submit(http, "uppercase", "after the api moved")]
    assert wait_all_succeeded(http, ids)[0]["result"] == "AFTER THE API MOVED"


def _crash(container: str) -> bool:
    """SIGKILL the worker's process from the host, as a crash would, and say so;
    where the host's PID namespace is out of reach (Docker Desktop, no root),
    kill the container with docker instead, which Docker counts as a manual stop."""
    pid = inspect(container)["State"]["Pid"]
    try:
        os.kill(pid, signal.SIGKILL)
        return True
    except (PermissionError, ProcessLookupError):
        docker("kill", "--signal=SIGKILL", container)
        return False


def test_killing_the_worker_mid_job_loses_none(http) -> None:
    worker = container_of("worker")
    restarts = inspect(worker)["RestartCount"]
    ids = [submit(http, "sleep", {"seconds": 2}) for _ in range(3)]
    ids += [submit(http, "uppercase", f"k{i}") for i in range(5)]
    wait_for(
        lambda: any((j := job(http, i)) and j["status"] == "running" for i in ids[:3]),
        timeout=30,
        what="a sleep job to be running",
    )
    if _crash(worker):
        # restart: unless-stopped brings a crashed worker back by itself.
        wait_for(
            lambda: inspect(worker)["RestartCount"] > restarts, timeout=30, what="the worker to be restarted"
        )
    else:
        compose("up", "--detach", "worker")
    jobs = wait_all_succeeded(http, ids, timeout=120)
    assert max(j["attempts"] for j in jobs) == 2  # the interrupted job ran again, once
    assert all(1 <= j["attempts"] <= 2 for j in jobs)


def test_down_then_up_keeps_every_job(http) -> None:
    ids = [submit(http, "uppercase", f"kept {i}") for i in range(3)]
    wait_all_succeeded(http, ids)
    compose("down")
    compose("up", "--detach", "--wait", timeout=300)
    # New containers, same named volumes: every job is still there.
    assert [j["status"] for j in wait_all_succeeded(http, ids)] == ["succeeded"] * 3


def readme_block(after: str) -> list[str]:
    """The command lines of the first ```sh block after the line `after` in the README."""
    text = (ROOT / "README.md").read_text()
    block = text[text.index(after) :].split("```sh\n", 1)[1].split("```", 1)[0]
    return [line.split("  #")[0].strip() for line in block.strip().splitlines()]


def test_the_readme_curl_example(http) -> None:
    (command,) = [" ".join(readme_block("Or from a shell:")).replace("\\ ", "")]
    command = command.replace("localhost:8000", f"127.0.0.1:{API_PORT}")
    out = subprocess.run(["bash", "-c", command], capture_output=True, text=True, check=True).stdout
    [result] = [j["result"] for j in wait_all_succeeded(http, [json.loads(out)["id"]])]
    assert result["words"] == 6


def test_the_readme_try_breaking_it_commands(http) -> None:
    """Run the README's "Try breaking it" block as written, against this
    project, with jobs in flight: every job still finishes, once."""
    ids = [submit(http, "sleep", {"seconds": 1}) for _ in range(6)]
    ids += [submit(http, "uppercase", f"b{i}") for i in range(20)]
    env = {**ENV, "COMPOSE_PROJECT_NAME": PROJECT}
    for command in readme_block("Try breaking it:"):
        assert command.startswith("docker compose "), command
        subprocess.run(
            ["bash", "-c", command], cwd=ROOT, env=env, check=True, capture_output=True, timeout=300
        )
        if "start redis" in command or "restart postgres" in command:
            wait_for(lambda: job(http, ids[0]) is not None, timeout=60, what="the API to answer")
        ids.append(submit(http, "uppercase", command))
    jobs = wait_all_succeeded(http, ids, timeout=180)
    assert all(1 <= j["attempts"] <= 2 for j in jobs)
    stats = wait_for(
        lambda: (s := http.get("/api/stats").json())["workers"] == 3 and s,
        timeout=30,
        what="three live workers",
    )
    assert stats["redis"] == "ok"
    compose("up", "--detach", "--scale", "worker=1")
