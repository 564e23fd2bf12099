"""Self-healing: delete one pod at a time under a trickle of jobs, time each recovery."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubernetes import client

from .conveyor import Conveyor, check_job
from .kube import RECOVERY_TIMEOUT, Cluster, component, pod_ready, table, wait_for
from .traffic import Trickle


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


def replace_pod(
    cluster: Cluster, name: str, jobs_flow: Callable[[], bool], timeout: float = RECOVERY_TIMEOUT
) -> Recovery:
    """Deletes the (first Ready) pod of component `name`; times until its
    replacement is Ready and until `jobs_flow()` (a job's round trip through
    the frontend) succeeds again, then waits until every workload is Ready."""
    selector = component(name)
    victim = next((p for p in cluster.pods(selector) if pod_ready(p)), None)
    assert victim is not None, f"no Ready {name} pod to delete:\n{cluster.pods_table()}"
    old_uid = victim.metadata.uid
    start = time.monotonic()
    cluster.core.delete_namespaced_pod(victim.metadata.name, cluster.ns)
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
        return next((p for p in cluster.pods(selector) if p.metadata.uid != old_uid and pod_ready(p)), None)

    new = wait_for(replacement, timeout, 0.25, f"a Ready replacement of {name} pod {victim.metadata.name}")
    pod_ready_s = time.monotonic() - start
    prober.join(timeout)
    assert flowing, f"no job went through within {timeout:.0f} s of deleting {victim.metadata.name}"
    cluster.wait_ready(timeout)
    return Recovery(name, victim.metadata.name, new.metadata.name, pod_ready_s, flowing[0])


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
        recovery = replace_pod(cluster, name, trickle.roundtrip)
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
