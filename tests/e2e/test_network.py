"""The NetworkPolicies, proven path by path on the running dev overlay: each path the
application needs connects, and a pod that no policy names, in the namespace and in another
one, reaches none of PostgreSQL, Redis, the api or the worker's metrics port.

A cluster whose nodes carry the enforcer label (hack/cluster and hack/local-cluster set it)
claims to enforce NetworkPolicies: there a denied path that connects fails the test. Without
the label the matrix is still printed, and the test is skipped with a NOTE if a denied path
connects (a CNI that accepts the policies and ignores them)."""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import uuid
from dataclasses import dataclass

import httpx
import pytest

from demo.kube import KUBECTL, ROOT, Cluster, component, kubectl, table, wait_for
from demo.probes import connect_from, probe_pod

pytestmark = pytest.mark.cluster

# The node label that names a NetworkPolicy enforcer, where the local cluster defines it.
ENFORCER_LABEL = re.search(
    r"^ENFORCER_LABEL=(\S+)$", (ROOT / "hack" / "local-cluster" / "config.sh").read_text(), re.MULTILINE
).group(1)
MONITORING_KINDS = {"ServiceMonitor", "PodMonitor"}


@dataclass
class Path:
    source: str
    target: str
    allowed: bool
    got: str = ""

    @property
    def connected(self) -> bool:
        return self.got in ("connected", "ok", "up")

    @property
    def verdict(self) -> str:
        if self.got.startswith("skipped"):
            return "-"
        return "ok" if self.connected == self.allowed else "WRONG"


def wget_from(cluster: Cluster, pod: str, container: str, url: str) -> str:
    """The frontend's image has busybox, not python: an HTTP GET that must succeed."""
    wget = ["wget", "-q", "-T", "4", "-O", "/dev/null", url]
    done = subprocess.run(
        [KUBECTL, "-n", cluster.ns, "exec", pod, "-c", container, "--", *wget],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return "connected" if done.returncode == 0 else (done.stderr.strip().splitlines() or ["failed"])[-1][:60]


def first_pod(cluster: Cluster, name: str) -> str:
    pods = [p for p in cluster.pods(component(name)) if p.status.phase == "Running"]
    assert pods, f"no running {name} pod"
    return pods[0].metadata.name


@contextlib.contextmanager
def other_namespace(cluster: Cluster):
    name = f"conveyor-e2e-probe-{uuid.uuid4().hex[:6]}"
    labels = {"pod-security.kubernetes.io/enforce": "restricted"}
    cluster.core.create_namespace({"metadata": {"name": name, "labels": labels}})
    try:
        yield name
    finally:
        with contextlib.suppress(Exception):
            cluster.core.delete_namespace(name)


def prometheus_paths(cluster: Cluster) -> list[Path]:
    """Prometheus' scrapes of the namespace, where the monitoring component is in the overlay."""
    kinds = {doc["kind"] for doc in cluster.rendered()}
    if not kinds & MONITORING_KINDS:
        return [Path("prometheus (monitoring)", "metrics ports", True, "skipped: no monitoring component")]
    proc_args = ["-n", "monitoring", "get", "svc", "prometheus-operated", "-o", "name"]
    assert kubectl(*proc_args, check=False).strip(), "the overlay has monitoring, the cluster no Prometheus"
    monitoring = Cluster("monitoring")
    with monitoring.port_forward("svc/prometheus-operated", 9090) as port:

        def scraped() -> list[dict] | None:
            with contextlib.suppress(httpx.HTTPError):
                targets = httpx.get(f"http://127.0.0.1:{port}/api/v1/targets?state=active", timeout=10)
                ours = [
                    t
                    for t in targets.json()["data"]["activeTargets"]
                    if t["labels"].get("namespace") == cluster.ns
                ]
                if ours and all(t["health"] != "unknown" for t in ours):
                    return ours
            return None

        targets = wait_for(scraped, 120, 5, "Prometheus to scrape the namespace's targets")
    return [
        Path(
            "prometheus (monitoring)",
            re.sub(r"^https?://([^/]+).*", r"\1", t["scrapeUrl"]) + f" ({t['labels'].get('pod', '?')})",
            True,
            t["health"] if t["health"] == "up" else f"{t['health']}: {t['lastError'][:60]}",
        )
        for t in targets
    ]


def test_network_policy_matrix(cluster: Cluster, running: None, report) -> None:
    ns = cluster.ns
    worker_ip = next(p.status.pod_ip for p in cluster.pods(component("worker")) if p.status.pod_ip)
    paths: list[Path] = []

    frontend = first_pod(cluster, "frontend")
    paths.append(
        Path(
            "frontend", "api:8000", True, wget_from(cluster, frontend, "frontend", "http://api:8000/healthz")
        )
    )
    for name in ("api", "worker"):
        got = connect_from(
            cluster, first_pod(cluster, name), name, ["postgres-rw:5432", "redis:6379"], "postgres-rw"
        )
        paths += [Path(name, t, True, got[t]) for t in ("postgres-rw:5432", "redis:6379")]
        paths.append(Path(name, "DNS (kube-dns)", True, got["dns"]))

    denied = ["postgres-rw:5432", "redis:6379", "api:8000", f"{worker_ip}:9000"]
    got = probe_pod(cluster, ns, denied, "postgres-rw")
    paths += [Path(f"probe in {ns}", t, False, got[t]) for t in denied]
    paths.append(Path(f"probe in {ns}", "DNS (kube-dns)", True, got["dns"]))

    with other_namespace(cluster) as other:
        fqdn = [f"{t.split(':')[0]}.{ns}:{t.split(':')[1]}" for t in denied[:3]] + denied[3:]
        control = f"frontend.{ns}:80"
        got = probe_pod(cluster, other, [*fqdn, control], f"postgres-rw.{ns}")
        paths += [Path(f"probe in {other}", t, False, got[t]) for t in fqdn]
        # The control: the probe itself can connect, to what is open to anyone.
        paths.append(Path(f"probe in {other}", control, True, got[control]))
        paths.append(Path(f"probe in {other}", "DNS (kube-dns)", True, got["dns"]))

    paths += prometheus_paths(cluster)

    enforcers = {
        n.metadata.name: (n.metadata.labels or {}).get(ENFORCER_LABEL) for n in cluster.core.list_node().items
    }
    claimed = {node: e for node, e in enforcers.items() if e}
    rows = [[p.source, p.target, "allow" if p.allowed else "deny", p.got, p.verdict] for p in paths]
    matrix = table(["from", "to", "policy", "got", "verdict"], rows)
    leaks = [p for p in paths if not p.allowed and p.connected]
    broken = [p for p in paths if p.allowed and not p.connected and p.verdict != "-"]
    header = f"enforcer ({ENFORCER_LABEL}): {json.dumps(claimed) if claimed else 'no node has the label'}"
    report("NetworkPolicies: who can connect to what", f"{header}\n{matrix}")

    assert not broken, f"paths the application needs are blocked: {broken}"
    if leaks and not claimed:
        note = (
            "NOTE: no node claims a NetworkPolicy enforcer and a denied path connected "
            f"({', '.join(p.target for p in leaks)}): the policies are applied, not proven here."
        )
        report("NetworkPolicies", note)
        pytest.skip(note)
    assert not leaks, f"the nodes claim an enforcer ({claimed}), yet denied paths connected: {leaks}"
