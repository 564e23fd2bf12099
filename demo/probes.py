"""Probes of the cluster's guarantees: a pod that NetworkPolicies allow only DNS, a privileged pod."""

from __future__ import annotations

import json
import uuid
from typing import Any

from kubernetes.client.rest import ApiException

from .kube import Cluster, wait_for

PROBE_SCRIPT = """
import json, socket
out = {}
try:
    socket.getaddrinfo("postgres", 5432)
    out["dns"] = "ok"
except OSError as exc:
    out["dns"] = str(exc)
for host, port in (("postgres", 5432), ("redis", 6379), ("api", 8000)):
    try:
        socket.create_connection((host, port), timeout=4).close()
        out[f"{host}:{port}"] = "connected"
    except OSError as exc:
        out[f"{host}:{port}"] = type(exc).__name__
print(json.dumps(out))
"""


def restricted_security() -> tuple[dict[str, Any], dict[str, Any]]:
    pod = {
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "runAsGroup": 10001,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    container = {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": True,
    }
    return pod, container


def netpol_probe(cluster: Cluster, timeout: float = 120) -> dict[str, str]:
    """Runs a pod that no NetworkPolicy allows anything but DNS, and returns what it
    could connect to. With enforcing CNI every connection fails and DNS works."""
    name = f"e2e-netpol-probe-{uuid.uuid4().hex[:6]}"
    pod_sc, container_sc = restricted_security()
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/name": "e2e-netpol-probe"}},
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "securityContext": pod_sc,
            "containers": [
                {
                    "name": "probe",
                    "image": cluster.deployment_image("api", "api"),
                    "imagePullPolicy": "IfNotPresent",
                    "command": ["python", "-c", PROBE_SCRIPT],
                    "securityContext": container_sc,
                    "resources": {
                        "requests": {"cpu": "10m", "memory": "32Mi"},
                        "limits": {"cpu": "200m", "memory": "64Mi"},
                    },
                }
            ],
        },
    }
    cluster.core.create_namespaced_pod(cluster.ns, pod)
    try:

        def finished() -> bool:
            phase = cluster.core.read_namespaced_pod(name, cluster.ns).status.phase
            return phase in ("Succeeded", "Failed")

        wait_for(finished, timeout, 1, f"probe pod {name} to finish")
        return json.loads(cluster.logs(name).strip().splitlines()[-1])
    finally:
        cluster.core.delete_namespaced_pod(name, cluster.ns, grace_period_seconds=0)


def privileged_pod_refusal(cluster: Cluster) -> str:
    """Tries to create a privileged pod (server-side dry run); returns the API server's refusal."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "e2e-privileged"},
        "spec": {
            "containers": [
                {
                    "name": "c",
                    "image": cluster.deployment_image("api", "api"),
                    "securityContext": {"privileged": True},
                }
            ]
        },
    }
    try:
        cluster.core.create_namespaced_pod(cluster.ns, pod, dry_run="All")
    except ApiException as exc:
        return json.loads(exc.body).get("message", exc.body) if exc.body else str(exc)
    return ""
