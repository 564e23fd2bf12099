"""Every promise Conveyor makes about Kubernetes, proven on a real cluster: the
one of the current kubeconfig context (`make cluster` starts one). Run with
`make e2e`, which first builds the images and loads them into that cluster.

The tests run in order, as one story: deploy the dev overlay from nothing, use
it through the frontend, break it one pod at a time under a trickle of jobs,
roll the API under continuous requests, probe its Pod Security, undeploy it
(`make undeploy`: `kubectl delete -k` of all but the Namespace) and deploy it
again onto the data and the Secret that kept (test_network.py, test_backup.py
and test_release.py have their own stories). They start by deleting the
namespace conveyor-dev (and its data), so do not point them at a cluster whose
dev data you want; they leave the dev overlay running.
"""

from __future__ import annotations

import re
import time
from urllib.parse import urljoin

import httpx
import pytest

from demo.conveyor import Conveyor, check_job
from demo.kube import DEPLOY_TIMEOUT, Cluster, component, table, wait_for
from demo.probes import privileged_pod_refusal
from demo.rollout import roll_api
from demo.selfheal import self_heal

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def deployed(cluster: Cluster) -> dict[str, float]:
    """The namespace and the dev overlay applied from nothing; seconds until each workload was ready."""
    cluster.remove_namespace()
    start = time.monotonic()
    cluster.apply()
    ready = cluster.wait_ready(DEPLOY_TIMEOUT)
    ready["(total)"] = time.monotonic() - start
    ready_uid[cluster.ns] = cluster.namespace_uid()
    return ready


ready_uid: dict[str, str | None] = {}


@pytest.fixture(autouse=True)
def nobody_else_redeploys(cluster: Cluster):
    """The cluster may be shared (the current context of everybody on the machine):
    a test that finds the namespace deleted or recreated under it says so instead
    of failing in a puzzling way."""
    yield
    if cluster.ns in ready_uid and ready_uid[cluster.ns] != cluster.namespace_uid():
        pytest.fail(
            f"namespace {cluster.ns} was deleted or recreated by someone else during the test "
            "(make deploy/undeploy/demo on the same cluster?); rerun `make e2e` alone"
        )


@pytest.fixture(scope="module")
def frontend(cluster: Cluster, deployed: dict[str, float]):
    with cluster.frontend() as url:
        yield url


@pytest.fixture(scope="module")
def api(frontend: str):
    with Conveyor(frontend) as conveyor:
        conveyor.wait_reachable()
        yield conveyor


def test_01_deploys_from_nothing(cluster: Cluster, deployed: dict[str, float], report) -> None:
    state = cluster.workloads()
    for kind in ("deployment/api", "deployment/worker", "deployment/frontend", "statefulset/postgres"):
        assert kind in state, f"{kind} missing from the dev overlay: {sorted(state)}"
    assert not any(state.values()), state
    # The schema is migrated before the API serves: each api pod's `migrate`
    # init container finished successfully before its api container started.
    for pod in cluster.pods(component("api")):
        init = {c.name: c for c in pod.status.init_container_statuses or []}
        assert "migrate" in init, f"{pod.metadata.name} has no migrate init container"
        done = init["migrate"].state.terminated
        assert done is not None and done.exit_code == 0, (
            f"migrate in {pod.metadata.name}: {init['migrate'].state}"
        )
        api_state = next(c for c in pod.status.container_statuses if c.name == "api").state.running
        assert api_state is not None and done.finished_at <= api_state.started_at
        assert "schema is current" in cluster.logs(pod.metadata.name, "migrate")
    rows = [[name, f"{seconds:.1f}"] for name, seconds in sorted(deployed.items(), key=lambda kv: kv[1])]
    report(
        f"kubectl apply -k deploy/overlays/dev, from nothing (context {cluster.context})",
        table(["workload", "ready after (s)"], rows) + "\n\n" + cluster.pods_table(),
    )


def test_02_job_and_dashboard_through_the_frontend(api: Conveyor, frontend: str, report) -> None:
    job = api.submit("wordcount", "the frontend proxies the api the api queues the job")
    done = api.wait_finished([job["id"]], 60)[job["id"]]
    assert check_job(done, "wordcount", "the frontend proxies the api the api queues the job") == []
    page = httpx.get(f"{frontend}/", timeout=10)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    # The page's own script, stylesheet and icon load through the Service too.
    assets = set(re.findall(r'(?:src|href)="([^"#:?]+\.(?:js|css|svg))"', page.text))
    assert any(a.endswith(".js") for a in assets) and any(a.endswith(".css") for a in assets), assets
    for asset in assets:
        assert httpx.get(urljoin(f"{frontend}/", asset), timeout=10).status_code == 200, asset
    report(
        "Through the frontend Service",
        f"{frontend}: dashboard 200 with {len(assets)} assets; "
        f"job {done['id']} {done['status']} after {done['attempts']} attempt(s): {done['result']}",
    )


def test_03_self_healing(cluster: Cluster, frontend: str, report) -> None:
    result = self_heal(cluster, frontend)
    report("Self-healing under a trickle of jobs (one every 0.5 s)", result.summary())
    # Jobs accepted before PostgreSQL's pod went are still known after it came back.
    assert set(result.before_postgres) <= set(result.finished)
    assert result.problems == [], "\n".join(result.problems)


def test_04_rolling_update_without_failed_requests(cluster: Cluster, frontend: str, report) -> None:
    roll = roll_api(cluster, frontend)
    report(
        "Rolling update of the api under continuous requests",
        f"{roll.old_image} -> {roll.new_image}: rollout complete in {roll.seconds:.1f} s\n"
        f"requests {roll.requests}, failed {len(roll.failures)}"
        + "".join(f"\n  {f}" for f in roll.failures[:10])
        + "".join(f"\n  frontend: {e}" for e in roll.proxy_errors[:10])
        + "\n\npods before:\n"
        + roll.pods_before
        + "\n\npods after:\n"
        + roll.pods_after,
    )
    assert roll.requests > 50
    assert roll.failures == []


def test_05_pod_security_restricted_is_enforced(cluster: Cluster, deployed: dict[str, float], report) -> None:
    labels = cluster.core.read_namespace(cluster.ns).metadata.labels or {}
    assert labels.get("pod-security.kubernetes.io/enforce") == "restricted", labels
    refusal = privileged_pod_refusal(cluster)
    assert "violates PodSecurity" in refusal and "restricted" in refusal, (
        refusal or "a privileged pod was admitted"
    )
    report(
        "Pod Security",
        f"namespace {cluster.ns} enforces restricted; a privileged pod is refused:\n{refusal}",
    )


def test_06_undeploy_keeps_only_the_data(cluster: Cluster, api: Conveyor, report) -> None:
    """`make undeploy` (`kubectl delete -k deploy/overlays/dev` of all but the Namespace)
    removes every other object of the overlay and keeps the namespace with its
    PersistentVolumeClaims and the Secret; the next `kubectl apply -k` finds every job of before."""
    kept = api.submit("uppercase", "kept across kubectl delete -k")
    kept_done = api.wait_finished([kept["id"]], 60)[kept["id"]]
    jobs_before = sum(api.stats()["counts"].values())
    # The StatefulSets' claims; the backups' claim is an object of the overlay (deploy/components/backup).
    claims_before = {k: v for k, v in cluster.claims().items() if k.startswith("data-")}
    assert {"data-postgres-0", "data-redis-0"} <= set(claims_before), claims_before
    objects = [(d["kind"], d["metadata"]["name"]) for d in cluster.rendered() if d["kind"] != "Namespace"]
    secret = cluster.core.read_namespaced_secret("conveyor-secrets", cluster.ns).metadata

    start = time.monotonic()
    cluster.delete()
    wait_for(lambda: not cluster.pods(), 180, 1, "the overlay's pods to be gone")
    deleted_s = time.monotonic() - start
    left = [f"{kind}/{name}" for kind, name in objects if cluster.exists(kind, name)]
    assert left == [], f"left after kubectl delete -k: {left}"
    claims_after = {k: v for k, v in cluster.claims().items() if k.startswith("data-")}
    assert claims_after == claims_before, f"claims before {claims_before}, after {claims_after}"
    assert all(" Bound " in claim for claim in claims_after.values()), claims_after
    kept_secret = cluster.core.read_namespaced_secret("conveyor-secrets", cluster.ns).metadata
    assert (kept_secret.uid, kept_secret.resource_version) == (secret.uid, secret.resource_version)

    start = time.monotonic()
    cluster.apply()
    cluster.wait_ready(DEPLOY_TIMEOUT)
    redeployed_s = time.monotonic() - start
    with cluster.frontend() as url, Conveyor(url) as again:
        # The frontend looks `api` up again while it runs: the new Service's
        # address replaces the old one within the DNS cache times.
        reachable_s = again.wait_reachable()
        found = again.job(kept["id"])
        jobs_after = sum(again.stats()["counts"].values())
    assert found == kept_done
    assert jobs_after == jobs_before

    report(
        "make undeploy (kubectl delete -k deploy/overlays/dev but its Namespace), then apply -k again",
        f"delete -k: {len(objects)} objects and every pod gone in {deleted_s:.1f} s; "
        f"namespace {cluster.ns}, Secret conveyor-secrets (resourceVersion {secret.resource_version}) "
        "and the claims kept:\n"
        + "".join(f"  {name}: {claim}\n" for name, claim in sorted(claims_after.items()))
        + f"apply -k again: every workload ready in {redeployed_s:.1f} s, the api answering through "
        f"the frontend {reachable_s:.1f} s later; all {jobs_after} jobs of "
        f"before are there (job {kept['id']}: {found['status']}, {found['result']!r})",
    )
