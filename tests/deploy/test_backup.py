"""deploy/components/backup without a cluster: what the overlays render, and the two scripts
its CronJobs run, run for real in the PostgreSQL image against PostgreSQL servers (the round
trip with a cluster, namespace deleted in between, is tests/e2e/test_backup.py)."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator

import pytest

from tests.deploy.test_manifests import ROOT, find, render
from tests.support import docker

COMPONENT = ROOT / "deploy" / "components" / "backup"
IMAGE = "postgres:17-alpine"
LABELS = {"app.kubernetes.io/name": "postgres-backup", "app.kubernetes.io/part-of": "conveyor"}


@pytest.fixture(scope="module", params=["dev", "prod"])
def rendered(request) -> tuple[str, list[dict]]:
    return request.param, render(ROOT / "deploy" / "overlays" / request.param)


def pod_spec(cronjob: dict) -> dict:
    return cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def selects(selector: dict, labels: dict) -> bool:
    match = selector.get("matchLabels", {})
    if any(labels.get(k) != v for k, v in match.items()):
        return False
    for expr in selector.get("matchExpressions", []):
        if expr["operator"] != "In" or labels.get(expr["key"]) not in expr["values"]:
            return False
    return True


def test_both_overlays_back_up_daily_and_can_restore(rendered) -> None:
    env, objs = rendered
    backup, restore = find(objs, "CronJob", "postgres-backup"), find(objs, "CronJob", "postgres-restore")
    assert not backup["spec"].get("suspend") and backup["spec"]["concurrencyPolicy"] == "Forbid"
    # The restore is a template only: never scheduled.
    assert restore["spec"]["suspend"] is True
    postgres = find(objs, "StatefulSet", "postgres")["spec"]["template"]["spec"]["containers"][0]["image"]
    for cronjob in (backup, restore):
        spec = pod_spec(cronjob)
        (container,) = spec["containers"]
        # pg_dump and pg_restore of the server's own version (and digest, where prod pins one).
        assert container["image"] == postgres, env
        assert spec["automountServiceAccountToken"] is False
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert container["securityContext"] == {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        }
        claims = {
            v["persistentVolumeClaim"]["claimName"] for v in spec["volumes"] if "persistentVolumeClaim" in v
        }
        assert claims == {"postgres-backups"}
        assert (
            cronjob["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"].items() >= LABELS.items()
        )
    assert find(objs, "PersistentVolumeClaim", "postgres-backups")
    assert "--format=custom" in (COMPONENT / "backup.sh").read_text()


def test_the_backup_pods_reach_postgres_and_postgres_admits_them(rendered) -> None:
    env, objs = rendered
    policies = [o for o in objs if o["kind"] == "NetworkPolicy"]
    postgres = {"app.kubernetes.io/name": "postgres", "app.kubernetes.io/part-of": "conveyor"}

    def allows(rules: list[dict], peer_key: str, peer: dict) -> bool:
        return any(
            any(selects(p.get("podSelector", {}), peer) for p in rule.get(peer_key, []))
            and {"protocol": "TCP", "port": 5432} in rule.get("ports", [])
            for rule in rules
        )

    out = [p for p in policies if selects(p["spec"]["podSelector"], LABELS)]
    assert any(allows(p["spec"].get("egress", []), "to", postgres) for p in out), env
    into = [p for p in policies if selects(p["spec"]["podSelector"], postgres)]
    assert any(allows(p["spec"].get("ingress", []), "from", LABELS) for p in into), env
    # Nothing may reach the backup pods.
    assert all(not p["spec"].get("ingress") for p in out)


def test_prod_keeps_its_backups_on_its_storage_class() -> None:
    objs = render(ROOT / "deploy" / "overlays" / "prod")
    classes = {
        c["spec"]["storageClassName"]
        for o in objs
        if o["kind"] == "StatefulSet"
        for c in o["spec"]["volumeClaimTemplates"]
    }
    assert {find(objs, "PersistentVolumeClaim", "postgres-backups")["spec"]["storageClassName"]} == classes


# --- backup.sh and restore.sh, run for real --------------------------------------


def psql(server: docker.Container, sql: str) -> str:
    return docker.docker(
        "exec",
        server.name,
        "psql",
        "-U",
        "conveyor",
        "-d",
        "conveyor",
        "-tAq",
        "-v",
        "ON_ERROR_STOP=1",
        "-c",
        sql,
    )


@pytest.fixture
def toolbox() -> Iterator[str]:
    """The CronJobs' container as far as docker can tell: the postgres image, its uid 70, a
    read-only root, a writable /tmp and /backups, the scripts read-only. Host network, so
    it reaches the servers' published ports."""
    name = f"conveyor-test-backup-{uuid.uuid4().hex[:8]}"
    docker.docker(
        "run", "--detach", f"--name={name}", "--network=host", "--user=70:70", "--read-only",
        "--cap-drop=ALL", "--security-opt=no-new-privileges", "--tmpfs=/tmp:uid=70,gid=70",
        "--tmpfs=/backups:uid=70,gid=70,mode=0700", "--tmpfs=/run/secrets/conveyor:uid=70,gid=70",
        f"--volume={COMPONENT}:/scripts:ro", "--entrypoint=sleep", IMAGE, "600",
    )  # fmt: skip
    try:
        yield name
    finally:
        docker.docker("rm", "--force", name, check=False)


def run_script(toolbox: str, script: str, server: docker.Container, password: str, **env: str):
    docker.docker(
        "exec", toolbox, "sh", "-c", f"printf %s '{password}' > /run/secrets/conveyor/postgres-password"
    )
    settings = {
        "POSTGRES_HOST": "127.0.0.1",
        "POSTGRES_PORT": str(server.host_port),
        "POSTGRES_USER": "conveyor",
        "POSTGRES_DB": "conveyor",
        "POSTGRES_PASSWORD_FILE": "/run/secrets/conveyor/postgres-password",
        **env,
    }
    args = [f"--env={k}={v}" for k, v in settings.items()]
    return subprocess.run(
        ["docker", "exec", *args, toolbox, "/bin/sh", f"/scripts/{script}"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def dumps(toolbox: str) -> list[str]:
    return docker.docker("exec", toolbox, "ls", "-A", "/backups").split()


@pytest.fixture
def server() -> Iterator[docker.Container]:
    container = docker.postgres()
    try:
        yield container.run()
    finally:
        container.remove()


def test_backups_keep_the_newest_and_restore_with_new_credentials(toolbox: str, server) -> None:
    psql(server, "CREATE TABLE jobs (id int PRIMARY KEY, result text)")
    psql(server, "INSERT INTO jobs SELECT n, 'job ' || n FROM generate_series(1, 500) n")
    names = []
    for _ in range(3):
        done = run_script(toolbox, "backup.sh", server, docker.POSTGRES_PASSWORD, BACKUP_KEEP="2")
        assert done.returncode == 0, done.stderr
        names.append(done.stdout.split()[1])
        time.sleep(1.1)  # the names have a resolution of one second
    assert "removed " + names[0] in done.stdout
    # The newest two, whole (no partial file left), and custom-format archives.
    assert dumps(toolbox) == sorted(names[1:])
    assert docker.docker("exec", toolbox, "head", "-c", "5", f"/backups/{names[2]}") == "PGDMP"

    # A new server with another password, its schema made by the app's migrations (an empty
    # table of the same name): what a redeploy into a new namespace looks like.
    fresh = docker.postgres()
    fresh.env["POSTGRES_PASSWORD"] = new_password = "new-" + uuid.uuid4().hex
    try:
        fresh.run()
        psql(fresh, "CREATE TABLE jobs (id int PRIMARY KEY, result text)")
        refused = run_script(toolbox, "restore.sh", fresh, new_password)
        assert refused.returncode == 2 and names[2] in refused.stderr, refused.stderr
        for bad in ("../etc/passwd", ".hidden"):
            assert run_script(toolbox, "restore.sh", fresh, new_password, DUMP=bad).returncode == 2
        missing = run_script(
            toolbox, "restore.sh", fresh, new_password, DUMP="conveyor-19700101T000000Z.dump"
        )
        assert missing.returncode == 1, missing.stderr
        wrong = run_script(toolbox, "restore.sh", fresh, docker.POSTGRES_PASSWORD, DUMP="latest")
        assert wrong.returncode != 0 and "password authentication failed" in wrong.stderr
        done = run_script(toolbox, "restore.sh", fresh, new_password, DUMP="latest")
        assert done.returncode == 0, done.stderr
        assert names[2] in done.stdout
        assert psql(fresh, "SELECT count(*), max(result) FROM jobs") == "500|job 99"
    finally:
        fresh.remove()


def test_a_failed_dump_leaves_no_file_and_fails_the_job(toolbox: str, server) -> None:
    done = run_script(toolbox, "backup.sh", server, "not-the-password")
    assert done.returncode != 0 and "password authentication failed" in done.stderr
    assert dumps(toolbox) == []
    assert run_script(toolbox, "backup.sh", server, docker.POSTGRES_PASSWORD, BACKUP_KEEP="0").returncode == 2
