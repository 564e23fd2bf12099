"""A small client for the dev overlay on the cluster of the current kubeconfig context:
kubectl applies and deletes the overlay as a user would; the `kubernetes` client reads state."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from .wait import wait_for

ROOT = Path(__file__).resolve().parents[1]
OVERLAY = ROOT / "deploy" / "overlays" / "dev"
NAMESPACE = os.environ.get("CONVEYOR_NAMESPACE", "conveyor-dev")
KUBECTL = os.environ.get("KUBECTL") or "kubectl"
CLUSTER_SCRIPT = ROOT / "hack" / "cluster"
PART_OF = "app.kubernetes.io/part-of=conveyor"
# make undeploy's selector: all of the overlay but its Namespace.
UNDEPLOY_SELECTOR = "app.kubernetes.io/component!=namespace"
# Bounded waits; generous because CI machines are small and shared.
DEPLOY_TIMEOUT = float(os.environ.get("E2E_DEPLOY_TIMEOUT", "420"))
RECOVERY_TIMEOUT = float(os.environ.get("E2E_RECOVERY_TIMEOUT", "240"))


def component(name: str) -> str:
    """The label selector of one Conveyor component (api, worker, frontend, postgres, redis)."""
    return f"app.kubernetes.io/name={name},{PART_OF}"


def kubectl(*args: str, timeout: float = 300, check: bool = True) -> str:
    done = subprocess.run(
        [KUBECTL, *args], capture_output=True, text=True, timeout=timeout, check=False, cwd=ROOT
    )
    if check and done.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def load_images(*images: str) -> None:
    """Copies local Docker images into the cluster (kind, minikube or hack/local-cluster)."""
    subprocess.run([str(CLUSTER_SCRIPT), "load", *images], check=True, cwd=ROOT)


def pod_ready(pod: client.V1Pod) -> bool:
    if pod.metadata.deletion_timestamp is not None or pod.status.phase != "Running":
        return False
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


def age(since: datetime | None) -> str:
    if since is None:
        return "-"
    seconds = int(time.time() - since.timestamp())
    return f"{seconds}s" if seconds < 120 else f"{seconds // 60}m{seconds % 60:02d}s"


def table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    lines = [header, *rows]
    return "\n".join(
        "  ".join(str(cell).ljust(w) for cell, w in zip(line, widths, strict=True)) for line in lines
    )


class Cluster:
    """The namespace of the dev overlay on the current kubeconfig context."""

    def __init__(self, namespace: str = NAMESPACE) -> None:
        config.load_kube_config()
        self.context = config.list_kube_config_contexts()[1]["name"]
        self.ns = namespace
        self.core = client.CoreV1Api()
        self.apps = client.AppsV1Api()
        self.batch = client.BatchV1Api()

    # --- the overlay ---------------------------------------------------------------

    def rendered(self) -> list[dict[str, Any]]:
        """The objects `kubectl apply -k` creates (kubectl's own kustomize)."""
        import yaml

        return [doc for doc in yaml.safe_load_all(kubectl("kustomize", str(OVERLAY))) if doc]

    def images(self) -> list[str]:
        """Every container image the overlay's pods use."""
        found: set[str] = set()
        for doc in self.rendered():
            spec = doc.get("spec", {}).get("template", {}).get("spec", {})
            for c in spec.get("initContainers", []) + spec.get("containers", []):
                found.add(c["image"])
        return sorted(found)

    def apply(self, overlay: Path = OVERLAY) -> str:
        """`kubectl apply -k deploy/overlays/dev` (`make deploy ENV=dev`): the namespace
        included, and the Job that makes the Secret when it is missing."""
        return kubectl("apply", "-k", str(overlay))

    def delete(self, overlay: Path = OVERLAY) -> str:
        """What `make undeploy ENV=dev` does: `kubectl delete -k` of everything but the
        Namespace, which keeps the claims and the Secret in it."""
        return kubectl(
            "delete",
            "-k",
            str(overlay),
            "-l",
            UNDEPLOY_SELECTOR,
            "--ignore-not-found",
            "--wait=true",
            timeout=600,
        )

    def exists(self, kind: str, name: str) -> bool:
        out = kubectl("-n", self.ns, "get", kind, name, "--ignore-not-found", "-o", "name", check=False)
        return bool(out.strip())

    def claims(self) -> dict[str, str]:
        """PersistentVolumeClaim name -> "<uid> <phase> <volume>": the same string
        before and after means the very same claim, still bound to the same volume."""
        if not self.namespace_exists():
            return {}
        return {
            p.metadata.name: f"{p.metadata.uid} {p.status.phase} {p.spec.volume_name}"
            for p in self.core.list_namespaced_persistent_volume_claim(self.ns).items
        }

    def namespace_uid(self) -> str | None:
        try:
            return self.core.read_namespace(self.ns).metadata.uid
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def namespace_exists(self) -> bool:
        try:
            self.core.read_namespace(self.ns)
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def remove_namespace(self, timeout: float = 300) -> None:
        """Starts from nothing: the namespace and everything in it, data included,
        and the cluster DNS's memory of it."""
        if not self.namespace_exists():
            return
        with contextlib.suppress(ApiException):
            self.core.delete_namespace(self.ns)
        wait_for(lambda: not self.namespace_exists(), timeout, 1, f"namespace {self.ns} to be deleted")

    # --- workloads and pods --------------------------------------------------------

    def workloads(self) -> dict[str, str]:
        """kind/name -> "" when ready, else what it still waits for."""
        state: dict[str, str] = {}
        for d in self.apps.list_namespaced_deployment(self.ns).items:
            s, want = d.status, d.spec.replicas or 0
            pending = (s.observed_generation or 0) < d.metadata.generation or any(
                (getattr(s, f) or 0) != want
                for f in ("updated_replicas", "ready_replicas", "available_replicas")
            )
            state[f"deployment/{d.metadata.name}"] = (
                f"{s.ready_replicas or 0}/{want} ready, {s.updated_replicas or 0} updated" if pending else ""
            )
        for sts in self.apps.list_namespaced_stateful_set(self.ns).items:
            s, want = sts.status, sts.spec.replicas or 0
            pending = (s.observed_generation or 0) < sts.metadata.generation or (
                s.ready_replicas or 0
            ) != want
            pending = pending or (s.update_revision and s.current_revision != s.update_revision)
            state[f"statefulset/{sts.metadata.name}"] = (
                f"{s.ready_replicas or 0}/{want} ready" if pending else ""
            )
        for job in self.batch.list_namespaced_job(self.ns).items:
            # A CronJob's runs (backups, their manual runs) are not part of a deploy.
            if any(o.kind == "CronJob" for o in job.metadata.owner_references or []):
                continue
            want = job.spec.completions or 1
            done = job.status.succeeded or 0
            state[f"job/{job.metadata.name}"] = "" if done >= want else f"{done}/{want} completed"
        return state

    def wait_ready(self, timeout: float = DEPLOY_TIMEOUT) -> dict[str, float]:
        """Waits until every Deployment, StatefulSet and Job is ready; returns when each got there."""
        start, ready_at = time.monotonic(), {}
        while True:
            state = self.workloads()
            for name, pending in state.items():
                if not pending and name not in ready_at:
                    ready_at[name] = time.monotonic() - start
            if state and all(not p for p in state.values()):
                return ready_at
            if time.monotonic() - start > timeout:
                waiting = {k: v for k, v in state.items() if v}
                raise AssertionError(
                    f"not ready after {timeout:.0f} s: {waiting}\n{self.pods_table()}\n{self.recent_events()}"
                )
            time.sleep(1)

    def pods(self, selector: str = PART_OF) -> list[client.V1Pod]:
        return self.core.list_namespaced_pod(self.ns, label_selector=selector).items

    def pods_table(self, selector: str = PART_OF) -> str:
        rows = []
        for p in sorted(self.pods(selector), key=lambda p: p.metadata.name):
            statuses = p.status.container_statuses or []
            ready = sum(1 for c in statuses if c.ready)
            restarts = sum(c.restart_count for c in statuses)
            status = "Terminating" if p.metadata.deletion_timestamp else p.status.phase
            rows.append(
                [
                    p.metadata.name,
                    f"{ready}/{len(p.spec.containers)}",
                    status,
                    str(restarts),
                    age(p.metadata.creation_timestamp),
                    p.status.pod_ip or "-",
                ]
            )
        return table(["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP"], rows)

    def recent_events(self, limit: int = 15) -> str:
        events = self.core.list_namespaced_event(self.ns).items
        events.sort(key=lambda e: e.last_timestamp or e.event_time or e.metadata.creation_timestamp)
        return "\n".join(
            f"{e.type:8} {e.involved_object.kind}/{e.involved_object.name}: {e.reason}: {e.message}"
            for e in events[-limit:]
        )

    def logs(self, pod: str, container: str | None = None, tail: int | None = None) -> str:
        return self.core.read_namespaced_pod_log(pod, self.ns, container=container, tail_lines=tail)

    def log_errors(self, name: str, since: float) -> list[str]:
        """nginx's and the services' error lines of component `name` in the last `since` seconds."""
        lines = []
        for pod in self.pods(component(name)):
            text = self.core.read_namespaced_pod_log(pod.metadata.name, self.ns, since_seconds=int(since) + 1)
            lines += [line for line in text.splitlines() if "[error]" in line or '"level":"error"' in line]
        return lines

    def deployment_image(self, name: str, container: str | None = None) -> str:
        d = self.apps.read_namespaced_deployment(name, self.ns)
        c = next(c for c in d.spec.template.spec.containers if container in (None, c.name))
        return c.image

    def set_image(self, deployment: str, container: str, image: str) -> None:
        patch = {"spec": {"template": {"spec": {"containers": [{"name": container, "image": image}]}}}}
        self.apps.patch_namespaced_deployment(deployment, self.ns, patch)

    def rollout_done(self, deployment: str) -> bool:
        """The new ReplicaSet is fully available and no pod of an older one is left."""
        d = self.apps.read_namespaced_deployment(deployment, self.ns)
        s, want = d.status, d.spec.replicas or 0
        if (s.observed_generation or 0) < d.metadata.generation:
            return False
        if (
            (s.updated_replicas or 0) != want
            or (s.available_replicas or 0) != want
            or (s.replicas or 0) != want
        ):
            return False
        selector = ",".join(f"{k}={v}" for k, v in d.spec.selector.match_labels.items())
        image = d.spec.template.spec.containers[0].image
        return all(p.spec.containers[0].image == image for p in self.pods(selector))

    # --- the frontend --------------------------------------------------------------

    @contextlib.contextmanager
    def frontend(self) -> Iterator[str]:
        """The base URL of the frontend Service: its NodePort on the node's address when
        that answers from here (kind, minikube, the source-built cluster on Linux),
        otherwise a `kubectl port-forward`."""
        svc = self.core.read_namespaced_service("frontend", self.ns)
        node_port = next((p.node_port for p in svc.spec.ports if p.node_port), None)
        if node_port:
            for node in self.core.list_node().items:
                for address in node.status.addresses or []:
                    if address.type != "InternalIP":
                        continue
                    url = f"http://{address.address}:{node_port}"
                    with contextlib.suppress(httpx.HTTPError):
                        if httpx.get(f"{url}/healthz", timeout=3).status_code == 200:
                            yield url
                            return
        with self.port_forward("svc/frontend", svc.spec.ports[0].port) as port:
            yield f"http://127.0.0.1:{port}"

    @contextlib.contextmanager
    def port_forward(self, target: str, port: int) -> Iterator[int]:
        proc = subprocess.Popen(
            [KUBECTL, "-n", self.ns, "port-forward", target, f":{port}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            line = proc.stdout.readline() if proc.stdout else ""
            match = re.search(r"127\.0\.0\.1:(\d+)", line)
            if not match:
                raise RuntimeError(f"kubectl port-forward {target}: {line}")
            yield int(match.group(1))
        finally:
            proc.terminate()
            proc.wait(10)
