"""Conveyor on a real Kubernetes cluster, driven from Python.

One module for the end-to-end tests (tests/e2e/test_e2e.py) and the demos
(`make demo`, `make selfheal-demo`, `make rollout-demo`, tests/e2e/demo.py), so
that what the demos show is exactly what the tests prove. It talks to the
cluster of the current kubeconfig context with the `kubernetes` client; kubectl
only applies and deletes the Kustomize overlay, as a user would.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from tests.support.fixtures import TERMINAL, wait_for

ROOT = Path(__file__).resolve().parents[2]
OVERLAY = ROOT / "deploy" / "overlays" / "dev"
NAMESPACE = os.environ.get("CONVEYOR_NAMESPACE", "conveyor-dev")
KUBECTL = os.environ.get("KUBECTL") or "kubectl"
# Loads images into whatever cluster the current context is (kind, minikube,
# the source-built one); see hack/cluster.
CLUSTER_SCRIPT = ROOT / "hack" / "cluster"
PART_OF = "app.kubernetes.io/part-of=conveyor"
# Bounded waits; generous because CI machines are small and shared.
DEPLOY_TIMEOUT = float(os.environ.get("E2E_DEPLOY_TIMEOUT", "420"))
RECOVERY_TIMEOUT = float(os.environ.get("E2E_RECOVERY_TIMEOUT", "240"))
# Until the frontend reaches the api after a deploy: the cluster DNS may hand
# out a recreated Service's old address for up to 30 s (CoreDNS's `cache 30`),
# and nginx keeps an answer 10 s (services/frontend/entrypoint.sh).
API_REACHABLE_TIMEOUT = float(os.environ.get("E2E_API_REACHABLE_TIMEOUT", "90"))
JOB_MAX_ATTEMPTS = 3  # the contract's JOB_MAX_ATTEMPTS default, set in the base ConfigMap


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


@dataclass
class Recovery:
    """One deleted pod and how long the cluster took to make up for it."""

    component: str
    deleted: str
    replacement: str
    pod_ready_s: float  # until the replacement pod was Ready
    jobs_flow_s: float  # until a job submitted after the deletion had succeeded

    def row(self) -> list[str]:
        return [
            self.component,
            self.deleted,
            self.replacement,
            f"{self.pod_ready_s:.1f}",
            f"{self.jobs_flow_s:.1f}",
        ]


RECOVERY_HEADER = ["component", "deleted pod", "replacement", "pod Ready (s)", "jobs flow again (s)"]


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

    def apply(self) -> None:
        """What `make deploy ENV=dev` does: the namespace (its own kustomization,
        which `kubectl delete -k` of the overlay leaves alone), then the overlay."""
        kubectl("apply", "-k", str(OVERLAY / "namespace"))
        kubectl("apply", "-k", str(OVERLAY))

    def delete(self) -> None:
        """`kubectl delete -k deploy/overlays/dev` (`make undeploy ENV=dev`)."""
        kubectl("delete", "-k", str(OVERLAY), "--ignore-not-found", "--wait=true", timeout=600)

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

    def replace_pod(
        self, name: str, jobs_flow: Callable[[], bool], timeout: float = RECOVERY_TIMEOUT
    ) -> Recovery:
        """Deletes the (first Ready) pod of component `name`; times until its
        replacement is Ready and until `jobs_flow()` (a job's round trip through
        the frontend) succeeds again, then waits until every workload is Ready."""
        selector = component(name)
        victim = next((p for p in self.pods(selector) if pod_ready(p)), None)
        assert victim is not None, f"no Ready {name} pod to delete:\n{self.pods_table()}"
        old_uid = victim.metadata.uid
        start = time.monotonic()
        self.core.delete_namespaced_pod(victim.metadata.name, self.ns)
        flowing: list[float] = []

        def probe() -> None:
            while time.monotonic() - start < timeout:
                if jobs_flow():
                    flowing.append(time.monotonic() - start)
                    return
                time.sleep(0.5)

        prober = threading.Thread(target=probe, name=f"jobs-flow-{name}", daemon=True)
        prober.start()

        def replacement() -> client.V1Pod | None:
            return next((p for p in self.pods(selector) if p.metadata.uid != old_uid and pod_ready(p)), None)

        new = wait_for(
            replacement, timeout, 0.25, f"a Ready replacement of {name} pod {victim.metadata.name}"
        )
        pod_ready_s = time.monotonic() - start
        prober.join(timeout)
        assert flowing, f"no job went through within {timeout:.0f} s of deleting {victim.metadata.name}"
        self.wait_ready(timeout)
        return Recovery(name, victim.metadata.name, new.metadata.name, pod_ready_s, flowing[0])

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


# --- the application through the frontend -------------------------------------------


def expected_result(task: str, value: Any) -> Any:
    if task == "uppercase":
        return value.upper()
    if task == "sleep":
        return {"slept": value["seconds"]}
    words = re.findall(r"[\w']+", value.lower())
    top = [list(pair) for pair in Counter(words).most_common(10)]
    return {"words": len(words), "chars": len(value), "top": top}


class Conveyor:
    """The public API, through the frontend's nginx (/api/ is proxied to the api Service)."""

    def __init__(self, base_url: str, timeout: float = 5) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=timeout)

    def submit(self, task: str, value: Any) -> dict[str, Any]:
        response = self.http.post(
            "/api/jobs", json={"task": task, "input": value}, headers={"Idempotency-Key": str(uuid.uuid4())}
        )
        if response.status_code != 202:
            raise RuntimeError(f"POST /api/jobs: {response.status_code} {response.text[:200]}")
        return response.json()

    def job(self, job_id: str) -> dict[str, Any] | None:
        """The job, or None while the API cannot answer (a dependency is coming back)."""
        with contextlib.suppress(httpx.HTTPError):
            response = self.http.get(f"/api/jobs/{job_id}")
            if response.status_code == 200:
                return response.json()
            if response.status_code == 404:
                raise AssertionError(f"job {job_id} is unknown to the API")
        return None

    def wait_finished(self, ids: list[str], timeout: float) -> dict[str, dict[str, Any]]:
        finished: dict[str, dict[str, Any]] = {}

        def all_done() -> bool:
            for job_id in ids:
                if job_id not in finished:
                    job = self.job(job_id)
                    if job and job["status"] in TERMINAL:
                        finished[job_id] = job
            return len(finished) == len(ids)

        try:
            wait_for(all_done, timeout, 1, f"{len(ids)} jobs to finish")
        except AssertionError:
            late = {i: (self.job(i) or {}).get("status") for i in ids if i not in finished}
            raise AssertionError(
                f"{len(late)} of {len(ids)} jobs not finished after {timeout:.0f} s: {late}"
            ) from None
        return finished

    def wait_reachable(self, timeout: float = API_REACHABLE_TIMEOUT) -> float:
        """Seconds until the api answers through the frontend (GET /api/stats)."""
        start = time.monotonic()

        def answers() -> bool:
            with contextlib.suppress(httpx.HTTPError):
                return self.http.get("/api/stats").status_code == 200
            return False

        wait_for(answers, timeout, 0.5, f"the api to answer through the frontend at {self.http.base_url}")
        return time.monotonic() - start

    def stats(self) -> dict[str, Any]:
        return self.http.get("/api/stats").raise_for_status().json()

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Conveyor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def check_job(job: dict[str, Any], task: str, value: Any) -> list[str]:
    """What is wrong with a finished job's record: ran once to success, with the right result."""
    problems = []
    if job["status"] != "succeeded":
        problems.append(f"status {job['status']} (error: {job.get('error')})")
    want = expected_result(task, value)
    got = job.get("result")
    if isinstance(want, dict) and isinstance(got, dict):
        got = {k: got.get(k) for k in want}
    if got != want:
        problems.append(f"result {job.get('result')!r}, expected {want!r}")
    if not 1 <= (job.get("attempts") or 0) <= JOB_MAX_ATTEMPTS:
        problems.append(f"attempts {job.get('attempts')}")
    times = [job.get(k) for k in ("created_at", "started_at", "finished_at")]
    if None in times or sorted(times) != times:  # ISO 8601 UTC strings sort like times
        problems.append(f"times created/started/finished out of order: {times}")
    return [f"job {job['id']} ({task}): {p}" for p in problems]


@dataclass
class Trickle:
    """A steady trickle of small jobs submitted from a thread, every `interval` seconds."""

    base_url: str
    interval: float = 0.5
    accepted: dict[str, tuple[str, Any]] = field(default_factory=dict)
    refused: list[tuple[float, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="trickle", daemon=True)
        self._start = time.monotonic()

    def __enter__(self) -> Trickle:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def roundtrip(self, timeout: float = 30) -> bool:
        """Submits one job and waits for its success; the job joins the accepted ones."""
        with Conveyor(self.base_url, timeout=5) as api:
            try:
                job = api.submit("uppercase", "are jobs flowing?")
                self.accepted[job["id"]] = ("uppercase", "are jobs flowing?")
                return api.wait_finished([job["id"]], timeout)[job["id"]]["status"] == "succeeded"
            except (httpx.HTTPError, RuntimeError, AssertionError):
                return False

    def _run(self) -> None:
        api = Conveyor(self.base_url, timeout=5)
        for n in itertools.count():
            task, value = ("uppercase", f"trickle job {n}") if n % 2 else ("wordcount", f"a b a trickle {n}")
            try:
                job = api.submit(task, value)
                self.accepted[job["id"]] = (task, value)
            except (httpx.HTTPError, RuntimeError) as exc:
                self.refused.append((time.monotonic() - self._start, str(exc)[:120]))
            if self._stop.wait(self.interval):
                break
        api.close()


@dataclass
class Load:
    """Continuous requests from a few threads (reads and job submissions), counting failures."""

    base_url: str
    threads: int = 4
    requests: int = 0
    failures: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._workers = [
            threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(self.threads)
        ]

    def __enter__(self) -> Load:
        for t in self._workers:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._workers:
            t.join(30)

    def _run(self, index: int) -> None:
        api = Conveyor(self.base_url, timeout=10)
        for n in itertools.count():
            if self._stop.is_set():
                break
            what = ("GET /api/stats", "GET /api/jobs", "POST /api/jobs")[n % 3]
            try:
                if what == "GET /api/stats":
                    response = api.http.get("/api/stats")
                elif what == "GET /api/jobs":
                    response = api.http.get("/api/jobs", params={"limit": 5})
                else:
                    response = api.http.post(
                        "/api/jobs", json={"task": "uppercase", "input": f"roll {index}-{n}"}
                    )
                ok = response.status_code < 400
                error = f"{what}: HTTP {response.status_code} {response.text[:100]}"
            except httpx.HTTPError as exc:
                ok, error = False, f"{what}: {type(exc).__name__}: {exc}"
            with self._lock:
                self.requests += 1
                if not ok:
                    self.failures.append(error)
            time.sleep(0.02)
        api.close()


@dataclass
class SelfHeal:
    """What happened while four pods were deleted one at a time under a trickle of jobs."""

    pods_before: str
    pods_after: str
    recoveries: list[Recovery]
    accepted: dict[str, tuple[str, Any]]  # job id -> (task, input), every job the API accepted
    finished: dict[str, dict[str, Any]]  # job id -> its final record
    refused: list[tuple[float, str]]  # submissions refused while a pod was down
    slow_job: str  # the sleep job that was running on the deleted worker
    before_postgres: list[str]  # jobs accepted before the postgres pod was deleted
    problems: list[str]  # what check_job found wrong

    def summary(self) -> str:
        attempts: dict[int, int] = {}
        for job in self.finished.values():
            attempts[job["attempts"]] = attempts.get(job["attempts"], 0) + 1
        slow = self.finished[self.slow_job]
        lines = [
            "pods before:",
            self.pods_before,
            "",
            table(RECOVERY_HEADER, [r.row() for r in self.recoveries]),
            "",
            f"jobs accepted: {len(self.accepted)}, with a problem: {len(self.problems)}; attempts: "
            + ", ".join(f"{n} job(s) after {a}" for a, n in sorted(attempts.items())),
            f"the sleep job running on the deleted worker: {slow['status']}, "
            + (
                "finished by that worker within its termination grace period"
                if slow["attempts"] == 1
                else f"handed back and run again (attempt {slow['attempts']})"
            ),
            f"submissions refused while a pod was down: {len(self.refused)}",
            *(f"  t={t:.1f}s {e}" for t, e in self.refused[:10]),
            *(f"  PROBLEM {p}" for p in self.problems),
            "",
            "pods after:",
            self.pods_after,
        ]
        return "\n".join(lines)


def self_heal(cluster: Cluster, base_url: str, progress: Callable[[str], None] = lambda _: None) -> SelfHeal:
    """Deletes the api, a worker (while it runs a `sleep` job), the redis and the
    postgres pod one at a time under a trickle of jobs through the frontend; then
    waits until every accepted job has finished and checks each one's record."""
    api = Conveyor(base_url)
    before = cluster.pods_table()
    recoveries: list[Recovery] = []

    def replace(name: str) -> None:
        progress(f"-> deleting the {name} pod ...")
        recovery = cluster.replace_pod(name, trickle.roundtrip)
        recoveries.append(recovery)
        progress(
            f"   {recovery.replacement} Ready after {recovery.pod_ready_s:.1f} s, "
            f"a new job went through after {recovery.jobs_flow_s:.1f} s"
        )

    with Trickle(base_url) as trickle:
        time.sleep(3)
        replace("api")
        # The worker goes while it runs a job: the job must still finish, once.
        slow = api.submit("sleep", {"seconds": 20})["id"]
        wait_for(lambda: (api.job(slow) or {}).get("status") == "running", 60, 0.5, "the sleep job to run")
        replace("worker")
        replace("redis")
        before_postgres = list(trickle.accepted)
        replace("postgres")
        time.sleep(3)
    accepted = {**trickle.accepted, slow: ("sleep", {"seconds": 20})}
    progress(f"{len(accepted)} jobs accepted meanwhile; waiting until each has finished ...")
    finished = api.wait_finished(list(accepted), 240)
    api.close()
    problems = [
        p for job_id, (task, value) in accepted.items() for p in check_job(finished[job_id], task, value)
    ]
    return SelfHeal(
        before,
        cluster.pods_table(),
        recoveries,
        accepted,
        finished,
        trickle.refused,
        slow,
        before_postgres,
        problems,
    )


@dataclass
class Rollout:
    old_image: str
    new_image: str
    seconds: float
    requests: int
    failures: list[str]
    pods_before: str
    pods_after: str
    proxy_errors: list[str]  # what the frontend's nginx logged about failed requests


def roll_api(cluster: Cluster, base_url: str, timeout: float = RECOVERY_TIMEOUT) -> Rollout:
    """Gives the api Deployment a second tag of its own image under continuous
    requests, and counts the requests that failed while it rolled."""
    old = cluster.deployment_image("api", "api")
    # Alternate between TAG and TAG-roll, so that a demo can be run again and again.
    new = old.removesuffix("-roll") if old.endswith("-roll") else f"{old}-roll"
    subprocess.run(["docker", "tag", old, new], check=True)
    load_images(new)
    before = cluster.pods_table(component("api"))
    with Load(base_url) as load:
        time.sleep(3)  # traffic flows before the rollout starts
        start = time.monotonic()
        cluster.set_image("api", "api", new)
        wait_for(lambda: cluster.rollout_done("api"), timeout, 0.5, "the api rollout to complete")
        seconds = time.monotonic() - start
        time.sleep(5)  # and keeps flowing while the old pod is gone for good
    errors = cluster.log_errors("frontend", since=time.monotonic() - start + 10) if load.failures else []
    after = cluster.pods_table(component("api"))
    return Rollout(old, new, seconds, load.requests, load.failures, before, after, errors)


# --- NetworkPolicy and Pod Security ---------------------------------------------------

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
