"""The first command a new user types, on the cluster of the current kubeconfig context:
`git clone … && kubectl apply -k deploy/overlays/dev`, from a clone of HEAD with no file
added, onto a cluster without the namespace. The Secret is made in the cluster by the
secret-bootstrap Job; a second apply, and a second run of that Job, change no credential;
a plain `kubectl delete -k` then removes the namespace with everything in it.

Runs before test_e2e.py (which deploys from nothing again), under `make e2e`; the images
must be in the cluster already (`make e2e` loads them).
"""

from __future__ import annotations

import base64
import hashlib
import subprocess
import time
from pathlib import Path

import pytest
from kubernetes.client.rest import ApiException

from demo.kube import DEPLOY_TIMEOUT, ROOT, Cluster, kubectl, table, wait_for

pytestmark = pytest.mark.cluster

SECRET = "secret-bootstrap"
JOB_PODS = "batch.kubernetes.io/job-name=secret-bootstrap"
KEYS = {"postgres-password", "redis-password"}


def git(*args: str, cwd: Path = ROOT) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """HEAD, cloned: what is committed, nothing a make target or a test run created."""
    path = tmp_path_factory.mktemp("fresh") / "conveyor"
    head = git("rev-parse", "HEAD").strip()
    git("clone", "--quiet", "--no-checkout", str(ROOT), str(path))
    git("checkout", "--quiet", head, cwd=path)
    assert git("status", "--porcelain", "--ignored", "--untracked-files=all", cwd=path) == ""
    return path


def secret_state(cluster: Cluster) -> dict[str, str] | None:
    """uid, resourceVersion and a digest of the data: the same triple means the very same values."""
    try:
        secret = cluster.core.read_namespaced_secret("conveyor-secrets", cluster.ns)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    digest = hashlib.sha256(repr(sorted((secret.data or {}).items())).encode()).hexdigest()[:16]
    return {
        "uid": secret.metadata.uid,
        "resourceVersion": secret.metadata.resource_version,
        "data": digest,
        "keys": ",".join(sorted(secret.data or {})),
        "managed-by": (secret.metadata.labels or {}).get("app.kubernetes.io/managed-by", ""),
    }


def bootstrap_log(cluster: Cluster) -> str:
    """The log of the newest pod of the bootstrap Job, once it has succeeded."""

    def succeeded():
        try:
            job = cluster.batch.read_namespaced_job(SECRET, cluster.ns)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return (job.status.succeeded or 0) >= 1

    wait_for(succeeded, 180, 1, "the secret-bootstrap Job to succeed")
    pods = sorted(cluster.pods(JOB_PODS), key=lambda p: p.metadata.creation_timestamp)
    return cluster.logs(pods[-1].metadata.name).strip()


@pytest.fixture(scope="module")
def applied(cluster: Cluster, clone: Path) -> dict[str, float]:
    cluster.remove_namespace()
    start = time.monotonic()
    cluster.apply(clone / "deploy" / "overlays" / "dev")
    ready = cluster.wait_ready(DEPLOY_TIMEOUT)
    ready["(total)"] = time.monotonic() - start
    return ready


def test_one_apply_from_a_fresh_clone_brings_up_everything(
    cluster: Cluster, clone: Path, applied: dict[str, float], report
) -> None:
    state = cluster.workloads()
    for name in (
        "deployment/api",
        "deployment/worker",
        "deployment/frontend",
        "statefulset/postgres",
        "statefulset/redis",
    ):
        assert state.get(name) == "", f"{name}: {state.get(name, 'missing')}"
    labels = cluster.core.read_namespace(cluster.ns).metadata.labels or {}
    assert labels.get("pod-security.kubernetes.io/enforce") == "restricted", labels
    secret = secret_state(cluster)
    assert secret is not None and secret["keys"] == ",".join(sorted(KEYS)), secret
    assert secret["managed-by"] == SECRET
    log = bootstrap_log(cluster)
    assert "created" in log, log

    # The values exist in the cluster only: not in the clone, not in what it renders.
    values = cluster.core.read_namespaced_secret("conveyor-secrets", cluster.ns).data
    plain = [base64.b64decode(v).decode() for v in values.values()]
    assert all(len(p) == 48 for p in plain) and len(set(plain)) == 2
    rendered = kubectl("kustomize", str(clone / "deploy" / "overlays" / "dev"))
    found = subprocess.run(
        ["git", "grep", "-I", "-l", "-F", *(arg for p in plain for arg in ("-e", p))],
        cwd=clone,
        capture_output=True,
        text=True,
        check=False,
    )
    assert found.returncode == 1 and not found.stdout, f"a password is in the clone: {found.stdout}"
    assert not [p for p in plain if p in rendered]

    # The app's pods waited for the Secret (kubelet retries the volume mount) rather than crash.
    waits = [
        e
        for e in cluster.core.list_namespaced_event(cluster.ns).items
        if e.reason == "FailedMount" and "conveyor-secrets" in (e.message or "")
    ]
    restarts = {
        p.metadata.name: sum(c.restart_count for c in p.status.container_statuses or [])
        for p in cluster.pods()
        if not p.metadata.name.startswith(SECRET)
    }
    rows = [[name, f"{seconds:.1f}"] for name, seconds in sorted(applied.items(), key=lambda kv: kv[1])]
    report(
        f"git clone && kubectl apply -k deploy/overlays/dev, once, on a cluster without {cluster.ns} "
        f"(context {cluster.context})",
        table(["workload", "ready after (s)"], rows) + f"\n\nsecret-bootstrap: {log}\n"
        f"pods that waited for the Secret: {len({e.involved_object.name for e in waits})} "
        f"({sum(e.count or 1 for e in waits)} FailedMount retries), restarts: {sum(restarts.values())}",
    )


def test_a_second_apply_and_a_second_bootstrap_rotate_nothing(
    cluster: Cluster, clone: Path, applied: dict[str, float], report
) -> None:
    overlay = clone / "deploy" / "overlays" / "dev"
    before = secret_state(cluster)
    output = cluster.apply(overlay)
    changed = [line for line in output.splitlines() if not line.endswith(" unchanged")]
    cluster.wait_ready(DEPLOY_TIMEOUT)
    assert secret_state(cluster) == before
    # The Job again, as after its TTL: it finds the Secret and leaves it alone.
    kubectl("-n", cluster.ns, "delete", "job", SECRET, "--ignore-not-found", "--wait=true")
    cluster.apply(overlay)
    log = bootstrap_log(cluster)
    assert "left as it is" in log, log
    assert secret_state(cluster) == before
    report(
        "kubectl apply -k again, then the bootstrap Job again",
        f"second apply: {len(output.splitlines())} objects, changed: {changed or 'none'}\n"
        f"Secret conveyor-secrets: uid {before['uid']}, resourceVersion {before['resourceVersion']}, "
        f"data sha256 {before['data']}: the same after both\nsecret-bootstrap: {log}",
    )


def test_a_plain_delete_removes_the_namespace_and_its_data(
    cluster: Cluster, clone: Path, applied: dict[str, float], report
) -> None:
    """What docs/kubernetes.md says a bare `kubectl delete -k deploy/overlays/dev` does
    (make undeploy keeps the data: test_e2e.py, 6)."""
    claims = cluster.claims()
    assert {"data-postgres-0", "data-redis-0"} <= set(claims), claims
    start = time.monotonic()
    kubectl(
        "delete",
        "-k",
        str(clone / "deploy" / "overlays" / "dev"),
        "--ignore-not-found",
        "--wait=true",
        timeout=600,
    )
    wait_for(lambda: not cluster.namespace_exists(), 300, 1, f"namespace {cluster.ns} to be gone")
    seconds = time.monotonic() - start
    assert cluster.claims() == {}
    assert secret_state(cluster) is None
    report(
        "plain kubectl delete -k deploy/overlays/dev",
        f"namespace {cluster.ns} gone in {seconds:.1f} s, with its {len(claims)} claims "
        f"({', '.join(sorted(claims))}) and Secret conveyor-secrets",
    )
