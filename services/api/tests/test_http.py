"""The API at the HTTP level: its OpenAPI document, 405s, slow and greedy
clients, unexpected errors, and which client address it believes."""

from __future__ import annotations

import contextlib
import socket
import uuid
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.support import docker
from tests.support.fixtures import wait_for

ROOT = Path(__file__).resolve().parents[3]


def test_the_document_publishes_each_task_input_and_every_answer(client) -> None:
    doc = client.get("/api/openapi.json").json()
    body = doc["paths"]["/api/jobs"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["discriminator"]["propertyName"] == "task"
    assert set(body["discriminator"]["mapping"]) >= {"uppercase", "wordcount", "sleep", "fail"}
    variants = doc["components"]["schemas"]
    sleep = variants["SleepJob"]["properties"]
    assert sleep["task"]["const"] == "sleep"
    assert variants["SleepInput"]["properties"]["seconds"]["maximum"] == 60
    assert sleep["timeout_seconds"]["default"] == 90 and sleep["timeout_seconds"]["maximum"] == 3600
    assert variants["UppercaseJob"]["properties"]["input"]["type"] == "string"
    metrics = doc["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert list(metrics) == ["text/plain"]
    assert "503" in doc["paths"]["/readyz"]["get"]["responses"]
    submit = doc["paths"]["/api/jobs"]["post"]["responses"]
    assert {"202", "408", "409", "413", "422", "503"} <= set(submit)
    assert client.get("/metrics").headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("DELETE", "/api/jobs", "GET, POST"),
        ("PUT", f"/api/jobs/{uuid.uuid4()}", "GET"),
        ("POST", "/healthz", "GET"),
    ],
)
def test_405_names_every_method_of_the_path(client, method, path, allow) -> None:
    response = client.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == allow
    assert response.json()["error"]["code"] == "method_not_allowed"


def open_slowly(port: int, head: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(head)
    return sock


def closed(sock: socket.socket) -> bool:
    """The server answered or hung up (we keep sending a byte now and then)."""
    sock.setblocking(False)
    try:
        sock.send(b"a")
        return sock.recv(65536) is not None
    except BlockingIOError:
        return False
    except OSError:
        return True


def read_all(sock: socket.socket) -> bytes:
    """What the server sends until it closes the connection."""
    sock.settimeout(15)
    reply = b""
    with sock:
        while chunk := sock.recv(65536):
            reply += chunk
    return reply


def test_slow_clients_are_closed_and_others_still_served(start_service, clean) -> None:
    api = start_service("api", API_HEADER_TIMEOUT="2", API_BODY_TIMEOUT="2")
    heads = [open_slowly(api.port, b"POST /api/jobs HTTP/1.1\r\nHost: x\r\nX-Slow: ") for _ in range(125)]
    body_head = (
        b"POST /api/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100\r\n\r\n{"
    )
    bodies = [open_slowly(api.port, body_head) for _ in range(125)]
    assert httpx.get(f"{api.url}/healthz").status_code == 200  # served meanwhile
    wait_for(
        lambda: all(closed(s) for s in heads + bodies), timeout=30, interval=0.5, what="slow clients closed"
    )
    for sock in (heads[0], bodies[0]):
        sock.setblocking(True)
    for sock in heads + bodies:
        sock.close()
    # A late head and a late body are told why, in the one error shape.
    late_head = open_slowly(api.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    late_body = open_slowly(api.port, body_head)
    for sock in (late_head, late_body):
        reply = read_all(sock)
        assert reply.startswith(b"HTTP/1.1 408 Request Timeout"), reply
        assert b'"code":"request_timeout"' in reply


def test_a_huge_header_is_refused(client, api) -> None:
    sock = socket.create_connection(("127.0.0.1", api.port))
    sock.settimeout(10)
    with contextlib.suppress(OSError):  # the server may hang up before we finish
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 1_000_000 + b"\r\n\r\n")
    reply = read_all(sock)
    assert reply.startswith(b"HTTP/1.1 431"), reply[:100]
    assert b'"code":"headers_too_large"' in reply
    assert client.get("/healthz", headers={"X-Fine": "a" * 8000}).status_code == 200


def test_connections_beyond_the_cap_get_503(start_service, clean) -> None:
    api = start_service("api", API_MAX_CONNECTIONS="5")
    held = [open_slowly(api.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n") for _ in range(5)]
    try:
        refused = httpx.get(f"{api.url}/healthz")
        assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
        assert refused.json()["error"]["code"] == "overloaded"
    finally:
        for sock in held:
            sock.close()
    wait_for(lambda: httpx.get(f"{api.url}/healthz").status_code == 200, what="served again")


@pytest.fixture
def broken_db(dsn: str, service_env: dict[str, str]):
    """A database of its own whose jobs table lost a column: every read fails
    with an error the API cannot expect."""
    name = f"broken_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    from conveyor_core import migrate

    with psycopg.connect(dsn.replace("dbname=conveyor", f"dbname={name}"), autocommit=True) as conn:
        migrate.apply(conn)
        conn.execute("ALTER TABLE jobs RENAME COLUMN error TO error_renamed")
    yield name
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE {name} WITH (FORCE)")


def test_an_unexpected_error_is_a_json_500_logged_with_the_job(start_service, broken_db) -> None:
    api = start_service("api", POSTGRES_DB=broken_db)
    job_id = str(uuid.uuid4())
    response = httpx.get(f"{api.url}/api/jobs/{job_id}", headers={"X-Request-ID": "req-42"})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "error": {"code": "internal_error", "message": "unexpected error; it was logged"}
    }
    lines = api.log_lines()
    [logged] = [line for line in lines if line["msg"] == "unexpected error"]
    assert logged["job_id"] == job_id and logged["request_id"] == "req-42"
    assert logged["path"] == f"/api/jobs/{job_id}" and "UndefinedColumn" in logged["exc"]
    # The access line is written once the response is sent: the client may read first.
    access = wait_for(
        lambda: next(
            (x for x in api.log_lines() if x["msg"] == "request" and x.get("job_id") == job_id), None
        ),
        what="the access line",
    )
    assert access["status"] == 500


def logged_client(api, path: str) -> str:
    return wait_for(
        lambda: next((line["client"] for line in api.log_lines() if line.get("path") == path), None),
        what=f"the access line of {path}",
    )


def test_forwarded_headers_are_believed_only_from_listed_proxies(start_service, clean) -> None:
    default = start_service("api")  # trusts 127.0.0.1 and ::1 only: a proxy on the same host
    forged = {"X-Forwarded-For": "203.0.113.7"}
    httpx.get(f"{default.url}/api/stats", headers=forged)
    assert logged_client(default, "/api/stats") == "203.0.113.7"
    # Another peer (still loopback, so the test stays on this host) is not believed.
    with httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2")) as other:
        other.get(f"{default.url}/api/jobs", headers=forged)
    assert logged_client(default, "/api/jobs") == "127.0.0.2"
    strict = start_service("api", FORWARDED_ALLOW_IPS="10.0.0.0/8")
    httpx.get(f"{strict.url}/api/stats", headers={"X-Forwarded-For": "203.0.113.7"})
    assert logged_client(strict, "/api/stats") == "127.0.0.1"


@pytest.fixture
def nginx(api, tmp_path: Path):
    """The frontend's nginx configuration in front of the API process."""
    port = docker.free_port()
    conf = ROOT / "services/frontend/nginx"
    (tmp_path / "default.conf").write_text(
        (conf / "default.conf").read_text().replace("listen 8080 default_server;", f"listen {port};")
    )
    (tmp_path / "nginx.conf").write_text(
        (conf / "nginx.conf").read_text().replace("/etc/nginx/conf.d/*.conf", "/conf/default.conf")
    )
    (tmp_path / "entrypoint.sh").write_text((ROOT / "services/frontend/entrypoint.sh").read_text())
    tmp_path.chmod(0o755)
    for item in tmp_path.iterdir():
        item.chmod(0o644)
    name = f"conveyor-test-nginx-{uuid.uuid4().hex[:8]}"
    docker.docker(
        "run", "--detach", f"--name={name}", "--network=host", f"--volume={tmp_path}:/conf:ro",
        f"--env=API_UPSTREAM=http://127.0.0.1:{api.port}", "--env=API_RESOLVER=127.0.0.1",
        "nginxinc/nginx-unprivileged:1.27-alpine",
        "sh", "/conf/entrypoint.sh", "nginx", "-c", "/conf/nginx.conf", "-g", "daemon off;",
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(
            lambda: _answers(f"{url}/healthz"), what=f"nginx up:\n{docker.docker('logs', name, check=False)}"
        )
        yield url
    finally:
        docker.docker("rm", "--force", name, check=False)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def test_nginx_sends_the_peer_address_not_the_clients_claim(nginx, api) -> None:
    httpx.get(f"{nginx}/api/stats", headers={"X-Forwarded-For": "203.0.113.7"})
    assert logged_client(api, "/api/stats") == "127.0.0.1"
