"""TLS to a managed PostgreSQL and Redis, for real: servers in containers with a certificate
signed by a CA that openssl makes for the test. With POSTGRES_SSLMODE=verify-full and the
right CA the app connects over TLS; with another CA, or a name the certificate does not
carry, it refuses. Likewise for rediss:// with REDIS_SSL_CA_CERTS."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis.exceptions

from conveyor_core import db, settings, streams
from conveyor_core.settings import CommonSettings
from tests.support import docker

PASSWORD = docker.POSTGRES_PASSWORD


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_ca(directory: Path, name: str) -> Path:
    openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", f"/CN={name}",
        "-keyout", f"{name}.key", "-out", f"{name}.crt", cwd=directory,
    )  # fmt: skip
    return directory / f"{name}.crt"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A CA, a server certificate it signed for the name localhost only, and an unrelated CA."""
    d = tmp_path_factory.mktemp("pki")
    make_ca(d, "ca")
    make_ca(d, "other-ca")
    openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        cwd=d,
    )
    (d / "san.ext").write_text("subjectAltName=DNS:localhost\n")
    openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
        "-days", "1", "-extfile", "san.ext", "-out", "server.crt", cwd=d,
    )  # fmt: skip
    return {
        "ca": d / "ca.crt",
        "other": d / "other-ca.crt",
        "cert": d / "server.crt",
        "key": d / "server.key",
    }


def tls_wrapper(pki: dict[str, Path], then: str) -> list[str]:
    """sh -c: the certificate and key from the environment into files the server's user owns, then `then`."""
    return [
        "sh",
        "-c",
        'umask 077 && mkdir -p /tls && printf "%s" "$TLS_CERT" > /tls/server.crt && '
        'printf "%s" "$TLS_KEY" > /tls/server.key && chown -R "$TLS_USER" /tls && ' + then,
    ]


@pytest.fixture(scope="module")
def postgres_tls(pki: dict[str, Path]) -> Iterator[docker.Container]:
    container = docker.Container(
        "postgres-tls",
        "postgres:17-alpine",
        5432,
        ready=["pg_isready", "-h", "127.0.0.1", "-U", "conveyor", "-d", "conveyor"],
        env={
            "POSTGRES_USER": "conveyor",
            "POSTGRES_DB": "conveyor",
            "POSTGRES_PASSWORD": PASSWORD,
            "TLS_CERT": pki["cert"].read_text(),
            "TLS_KEY": pki["key"].read_text(),
            "TLS_USER": "postgres",
        },
        args=tls_wrapper(
            pki,
            "exec docker-entrypoint.sh postgres -c ssl=on -c ssl_cert_file=/tls/server.crt "
            "-c ssl_key_file=/tls/server.key -c fsync=off",
        ),
    )
    try:
        yield container.run()
    finally:
        container.remove()


@pytest.fixture(scope="module")
def redis_tls(pki: dict[str, Path]) -> Iterator[docker.Container]:
    container = docker.Container(
        "redis-tls",
        "redis:8-alpine",
        6379,
        ready=[
            "sh",
            "-c",
            "redis-cli --tls --insecure -a $TLS_PASSWORD --no-auth-warning ping | grep -q PONG",
        ],
        env={
            "TLS_CERT": pki["cert"].read_text(),
            "TLS_KEY": pki["key"].read_text(),
            "TLS_USER": "redis",
            "TLS_PASSWORD": docker.REDIS_PASSWORD,
        },
        args=tls_wrapper(
            pki,
            "exec docker-entrypoint.sh redis-server --port 0 --tls-port 6379 --tls-cert-file /tls/server.crt "
            '--tls-key-file /tls/server.key --tls-auth-clients no --requirepass "$TLS_PASSWORD"',
        ),
    )
    try:
        yield container.run()
    finally:
        container.remove()


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("POSTGRES_SSLMODE", "POSTGRES_SSLROOTCERT", "REDIS_URL", "REDIS_SSL_CA_CERTS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("POSTGRES_PASSWORD", PASSWORD)
    monkeypatch.setenv("REDIS_PASSWORD", docker.REDIS_PASSWORD)
    return monkeypatch


def connect(
    env: pytest.MonkeyPatch, host: str, port: int, sslmode: str, ca: Path | None
) -> psycopg.Connection:
    env.setenv("POSTGRES_HOST", host)
    env.setenv("POSTGRES_PORT", str(port))
    env.setenv("POSTGRES_SSLMODE", sslmode)
    if ca is not None:
        env.setenv("POSTGRES_SSLROOTCERT", str(ca))
    return psycopg.connect(db.conninfo(settings.load(CommonSettings), "test-tls"))


def test_verify_full_with_the_right_ca_connects_over_tls(env, postgres_tls, pki) -> None:
    with connect(env, "localhost", postgres_tls.host_port, "verify-full", pki["ca"]) as conn:
        row = conn.execute("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()
    assert row is not None and row[0] is True and row[1].startswith("TLSv1."), row


def test_verify_full_refuses_a_server_signed_by_another_ca(env, postgres_tls, pki) -> None:
    with pytest.raises(psycopg.OperationalError, match="certificate verify failed"):
        connect(env, "localhost", postgres_tls.host_port, "verify-full", pki["other"])


def test_verify_full_refuses_a_name_the_certificate_does_not_carry(env, postgres_tls, pki) -> None:
    # The certificate names localhost only: 127.0.0.1 is the same server, and not who it says it is.
    with pytest.raises(psycopg.OperationalError, match="does not match host name"):
        connect(env, "127.0.0.1", postgres_tls.host_port, "verify-full", pki["ca"])
    # verify-ca checks the signature only, which is why verify-full is the one to use.
    connect(env, "127.0.0.1", postgres_tls.host_port, "verify-ca", pki["ca"]).close()


def test_verify_full_without_a_ca_is_a_configuration_error(env, capsys) -> None:
    env.setenv("POSTGRES_SSLMODE", "verify-full")
    with pytest.raises(SystemExit):
        settings.load(CommonSettings)
    assert "POSTGRES_SSLROOTCERT: Value error, required with POSTGRES_SSLMODE=verify-ca or verify-full" in (
        capsys.readouterr().err
    )


def ping(env: pytest.MonkeyPatch, url: str, ca: Path) -> object:
    env.setenv("REDIS_URL", url)
    env.setenv("REDIS_SSL_CA_CERTS", str(ca))

    async def run() -> object:
        client = streams.create_client(settings.load(CommonSettings), timeout=3)
        try:
            return await client.ping()
        finally:
            await client.aclose()

    return asyncio.run(run())


def test_rediss_with_the_right_ca_connects(env, redis_tls, pki) -> None:
    assert ping(env, f"rediss://localhost:{redis_tls.host_port}/0", pki["ca"]) is True


def test_rediss_refuses_another_ca_and_a_wrong_name(env, redis_tls, pki) -> None:
    with pytest.raises(redis.exceptions.ConnectionError, match="certificate verify failed"):
        ping(env, f"rediss://localhost:{redis_tls.host_port}/0", pki["other"])
    with pytest.raises(redis.exceptions.ConnectionError, match="certificate verify failed"):
        ping(env, f"rediss://127.0.0.1:{redis_tls.host_port}/0", pki["ca"])
