"""deploy/components/external-data, rendered the way its README says to use it: an overlay
on top of prod with a ConfigMap external-data and a CA bundle (written into a copy of
deploy/, as a platform team's overlay would be), then validated by kubernetes-validate
against the Kubernetes versions of `make lint`, and read back by the app's settings."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from conveyor_core.settings import CommonSettings
from tests.deploy.test_manifests import KUBECTL, ROOT, assert_no_credential

VALIDATE = ROOT / ".venv" / "bin" / "kubernetes-validate"
K8S_VERSIONS = ("1.34.0", "1.32.0")
CIDR = "10.20.0.0/16"
EXTERNAL = {
    "postgres-host": "conveyor.abc123.eu-west-1.rds.amazonaws.com",
    "postgres-port": "5432",
    "postgres-db": "conveyor",
    "postgres-user": "app",
    "postgres-sslmode": "verify-full",
    "redis-url": "rediss://master.conveyor.abc123.euw1.cache.amazonaws.com:6379/0",
    "egress-cidr": CIDR,
}
OVERLAY = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: conveyor
resources:
  - ../prod
  - external-data.yaml
components:
  - ../../components/external-data
configMapGenerator:
  - name: conveyor-data-ca
    files: [ca.crt]
"""
IN_CLUSTER = {
    ("StatefulSet", "postgres"),
    ("StatefulSet", "redis"),
    ("Service", "postgres"),
    ("Service", "postgres-rw"),
    ("Service", "redis"),
    ("NetworkPolicy", "postgres"),
    ("NetworkPolicy", "redis"),
}


@pytest.fixture(scope="module")
def managed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    deploy = tmp_path_factory.mktemp("managed") / "deploy"
    shutil.copytree(ROOT / "deploy", deploy)
    overlay = deploy / "overlays" / "managed"
    overlay.mkdir()
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=test-ca",
         "-keyout", str(deploy.parent / "ca.key"), "-out", str(overlay / "ca.crt")],
        check=True, capture_output=True,
    )  # fmt: skip
    (overlay / "kustomization.yaml").write_text(OVERLAY)
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "external-data"},
        "data": EXTERNAL,
    }
    (overlay / "external-data.yaml").write_text(yaml.safe_dump(config))
    out = subprocess.run(
        [KUBECTL, "kustomize", str(overlay)], capture_output=True, text=True, check=True
    ).stdout
    rendered = deploy.parent / "managed.yaml"
    rendered.write_text(out)
    return rendered, [doc for doc in yaml.safe_load_all(out) if doc]


def find(objs: list[dict], kind: str, prefix: str) -> dict:
    (match,) = [o for o in objs if o["kind"] == kind and o["metadata"]["name"].startswith(prefix)]
    return match


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_the_managed_overlay_is_valid_kubernetes(managed, version: str) -> None:
    rendered, _ = managed
    done = subprocess.run(
        [VALIDATE, "--strict", "--quiet", "-k", version, str(rendered)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_no_postgres_or_redis_runs_in_the_cluster(managed) -> None:
    _, objs = managed
    names = {(o["kind"], o["metadata"]["name"]) for o in objs}
    assert not IN_CLUSTER & names
    assert not [
        o for o in objs if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith("redis-config")
    ]
    assert not [o for o in objs if o["kind"] in {"StatefulSet", "PersistentVolumeClaim"}]
    for name in ("api", "worker", "frontend"):
        assert ("Deployment", name) in names


def test_the_app_connects_to_the_external_hosts_over_verified_tls(managed, monkeypatch, tmp_path) -> None:
    _, objs = managed
    config = find(objs, "ConfigMap", "conveyor-config-")["data"]
    assert config["POSTGRES_HOST"] == EXTERNAL["postgres-host"]
    assert config["POSTGRES_USER"] == EXTERNAL["postgres-user"]
    assert config["POSTGRES_SSLMODE"] == "verify-full"
    assert config["REDIS_URL"] == EXTERNAL["redis-url"]
    ca_path = config["POSTGRES_SSLROOTCERT"]
    assert config["REDIS_SSL_CA_CERTS"] == ca_path
    # Every container that connects (the migrations included) has the CA bundle at that path.
    ca_map = find(objs, "ConfigMap", "conveyor-data-ca-")
    assert "BEGIN CERTIFICATE" in ca_map["data"]["ca.crt"]
    for name in ("api", "worker"):
        spec = find(objs, "Deployment", name)["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in spec["volumes"]}
        for c in spec["initContainers"] + spec["containers"]:
            (mount,) = [m for m in c["volumeMounts"] if ca_path.startswith(m["mountPath"] + "/")]
            assert volumes[mount["name"]]["configMap"]["name"] == ca_map["metadata"]["name"], c["name"]
    # The app's own settings accept the rendered configuration (with the CA file where the pod has it).
    ca_file = tmp_path / "ca.crt"
    ca_file.write_text(ca_map["data"]["ca.crt"])
    for key, value in config.items():
        monkeypatch.setenv(key, str(ca_file) if value == ca_path else value)
    monkeypatch.setenv("POSTGRES_PASSWORD", "unused")
    monkeypatch.delenv("POSTGRES_PASSWORD_FILE")
    monkeypatch.delenv("REDIS_PASSWORD_FILE")
    settings = CommonSettings()
    assert (settings.postgres_sslmode, settings.postgres_sslrootcert) == ("verify-full", str(ca_file))
    assert settings.redis_ssl_ca_certs == str(ca_file)


def test_egress_goes_to_the_managed_network_only(managed) -> None:
    _, objs = managed
    for name in ("api", "worker"):
        egress = find(objs, "NetworkPolicy", name)["spec"]["egress"]
        assert egress == [
            {
                "to": [{"ipBlock": {"cidr": CIDR}}],
                "ports": [{"protocol": "TCP", "port": 5432}, {"protocol": "TCP", "port": 6379}],
            }
        ], name


def test_the_managed_overlay_carries_no_credential(managed) -> None:
    _, objs = managed
    assert_no_credential("managed", objs)
