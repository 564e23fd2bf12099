"""The API when PostgreSQL or Redis goes away, and when it is told to stop."""

import signal
import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest

from tests.support.fixtures import wait_finished, wait_for

# After its graceful shutdown uvicorn re-raises the signal it got, so that a
# supervisor sees why it stopped: -15 (143 in a shell) is a clean exit too.
CLEAN_EXIT = (0, -signal.SIGTERM)


@pytest.fixture
def redis_outage(redis_server):
    redis_server.stop()
    try:
        yield redis_server
    finally:
        redis_server.start()


@pytest.fixture
def postgres_outage(postgres_server):
    postgres_server.stop()
    try:
        yield postgres_server
    finally:
        postgres_server.start()


def test_redis_down_jobs_are_accepted_and_finished_when_it_returns(client, worker, redis_outage, db):
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"postgres": "ok", "redis": "degraded"}

    ids = [client.post("/api/jobs", json={"task": "uppercase", "input": f"r{i}"}) for i in range(5)]
    assert [r.status_code for r in ids] == [202] * 5
    ids = [r.json()["id"] for r in ids]
    assert client.get(f"/api/jobs/{ids[0]}").json()["status"] == "queued"
    assert client.get("/api/jobs").status_code == 200
    stats = client.get("/api/stats").json()
    assert stats["redis"] == "degraded" and stats["counts"]["queued"] == 5 and stats["workers"] is None
    undispatched = db.execute("SELECT count(*) AS n FROM jobs WHERE dispatched_at IS NULL").fetchone()
    assert undispatched["n"] == 5

    redis_outage.start()
    for job_id in ids:
        assert wait_finished(client, job_id, timeout=30)["status"] == "succeeded"
    wait_for(lambda: client.get("/readyz").json()["checks"]["redis"] == "ok", what="redis ok again")


def test_postgres_down_gives_503_and_recovers_by_itself(client, api, postgres_outage):
    submitted = client.post("/api/jobs", json={"task": "uppercase", "input": "x"})
    assert submitted.status_code == 503
    assert submitted.json()["error"]["code"] == "database_unavailable"
    assert submitted.headers["retry-after"] == "2"
    assert client.get("/api/jobs").status_code == 503
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.json()["checks"]["postgres"] == "unavailable"
    assert client.get("/healthz").status_code == 200
    assert api.alive()

    postgres_outage.start()
    wait_for(lambda: client.get("/readyz").status_code == 200, timeout=30, what="ready again")
    # Connections broken by the restart are replaced: requests succeed again.
    wait_for(
        lambda: client.post("/api/jobs", json={"task": "uppercase", "input": "y"}).status_code == 202,
        timeout=15,
        what="submits accepted again",
    )
    assert api.alive()


def test_sigterm_finishes_in_flight_requests_then_exits(api, clean):
    """A request still uploading its body when SIGTERM arrives gets its answer;
    new connections are refused; the process exits in time, cleanly."""
    body = b'{"task": "uppercase", "input": "in flight"}'
    head = (
        f"POST /api/jobs HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    sock = socket.create_connection(("127.0.0.1", api.port))
    sock.sendall(head + body[:10])
    time.sleep(0.3)  # the request is now in the server's hands

    started = time.monotonic()
    api.signal(signal.SIGTERM)
    time.sleep(1)
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{api.url}/healthz", timeout=2)
    sock.sendall(body[10:])
    reply = b""
    while chunk := sock.recv(65536):
        reply += chunk
    sock.close()
    assert reply.startswith(b"HTTP/1.1 202"), reply[:200]
    assert api.wait(timeout=10) in CLEAN_EXIT
    assert time.monotonic() - started < 10


def test_sigterm_with_an_idle_server_exits_at_once(api):
    started = time.monotonic()
    api.signal(signal.SIGTERM)
    assert api.wait(timeout=10) in CLEAN_EXIT
    assert time.monotonic() - started < 3


def test_bad_configuration_stops_the_start_with_a_clear_message(service_env):
    env = {**service_env, "API_PORT": "http", "POSTGRES_PASSWORD": ""}
    env.pop("POSTGRES_PASSWORD")
    done = subprocess.run(
        [sys.executable, "-m", "conveyor_api"], env=env, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 2
    assert "configuration error:" in done.stderr
    assert "API_PORT: Input should be a valid integer" in done.stderr
    assert "POSTGRES_PASSWORD: required but not set" in done.stderr


def test_many_concurrent_submits_all_land(client, worker, db):
    results: list[int] = []

    def burst():
        with httpx.Client(base_url=client.base_url, timeout=10) as c:
            for i in range(20):
                results.append(c.post("/api/jobs", json={"task": "uppercase", "input": str(i)}).status_code)

    threads = [threading.Thread(target=burst) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [202] * 100
    wait_for(
        lambda: (
            db.execute("SELECT count(*) AS n FROM jobs WHERE status = 'succeeded'").fetchone()["n"] == 100
        ),
        timeout=30,
        what="all 100 jobs done",
    )
