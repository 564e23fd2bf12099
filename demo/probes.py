"""Probes of the cluster's guarantees: who can connect to what (NetworkPolicies), a privileged pod."""

from __future__ import annotations

import json
import uuid
from typing import Any

from kubernetes.client.rest import ApiException

from .kube import Cluster, kubectl, wait_for

# Tries each "host:port" of argv[1] (a JSON list) at once, and resolves argv[2];
# prints one JSON object: target -> "connected" or the error's name, "dns" -> "ok" or the error.
CONNECT_SCRIPT = """
import concurrent.futures, json, socket, sys
def connect(target):
    host, port = target.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=4).close()
        return "connected"
    except OSError as exc:
        return type(exc).__name__
targets = json.loads(sys.argv[1])
with concurrent.futures.ThreadPoolExecutor(max(len(targets), 1)) as pool:
    out = dict(zip(targets, pool.map(connect, targets)))
try:
    socket.getaddrinfo(sys.argv[2], None)
    out["dns"] = "ok"
except OSError as exc:
    out["dns"] = type(exc).__name__
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


def connect_from(cluster: Cluster, pod: str, container: str, targets: list[str], name: str) -> dict[str, str]:
    """What a running pod (with python, as the api and the worker have) can connect to."""
    out = kubectl(
        "-n", cluster.ns, "exec", pod, "-c", container, "--",
        "python", "-c", CONNECT_SCRIPT, json.dumps(targets), name, timeout=60,
    )  # fmt: skip
    return json.loads(out.strip().splitlines()[-1])


def probe_pod(
    cluster: Cluster, namespace: str, targets: list[str], name: str, timeout: float = 120
) -> dict[str, str]:
    """What a new pod in `namespace` that no NetworkPolicy names can connect to (the api image,
    for its python; restricted like every Conveyor pod)."""
    pod_name = f"e2e-netpol-probe-{uuid.uuid4().hex[:6]}"
    pod_sc, container_sc = restricted_security()
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": pod_name, "labels": {"app.kubernetes.io/name": "e2e-netpol-probe"}},
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "securityContext": pod_sc,
            "containers": [
                {
                    "name": "probe",
                    "image": cluster.deployment_image("api", "api"),
                    "imagePullPolicy": "IfNotPresent",
                    "command": ["python", "-c", CONNECT_SCRIPT, json.dumps(targets), name],
                    "securityContext": container_sc,
                    "resources": {
                        "requests": {"cpu": "10m", "memory": "32Mi"},
                        "limits": {"cpu": "200m", "memory": "64Mi"},
                    },
                }
            ],
        },
    }
    cluster.core.create_namespaced_pod(namespace, pod)
    try:

        def finished() -> bool:
            phase = cluster.core.read_namespaced_pod(pod_name, namespace).status.phase
            return phase in ("Succeeded", "Failed")

        wait_for(finished, timeout, 1, f"probe pod {pod_name} to finish")
        log = cluster.core.read_namespaced_pod_log(pod_name, namespace)
        return json.loads(log.strip().splitlines()[-1])
    finally:
        cluster.core.delete_namespaced_pod(pod_name, namespace, grace_period_seconds=0)


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
