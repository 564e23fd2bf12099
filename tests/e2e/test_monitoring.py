"""The monitoring component on a real Prometheus (the Prometheus Operator's, as
kube-prometheus-stack installs it): both services scraped, the rules loaded,
every dashboard query and alert expression evaluated, and the no-live-worker
alert raised when every worker is gone. Runs after test_e2e.py, on the dev
overlay it leaves running."""

from __future__ import annotations

import contextlib
import json
import os
import time
from typing import Any

import httpx
import pytest

from demo.conveyor import Conveyor
from demo.kube import DEPLOY_TIMEOUT, Cluster, kubectl, table, wait_for
from tests.support.promql import alerts, panel_queries

pytestmark = pytest.mark.cluster

if os.environ.get("CONVEYOR_E2E") != "1":
    pytest.skip("run with `make e2e` (or set CONVEYOR_E2E=1)", allow_module_level=True)

# The local cluster's Prometheus NodePort (hack/local-cluster/README.md); without it (kind,
# minikube) a port-forward to the Service the operator makes for every Prometheus.
PROMETHEUS_URL = os.environ.get("CONVEYOR_PROMETHEUS_URL", "http://10.88.0.1:30090")
JOBS = ("conveyor-api", "conveyor-worker")
# The operator reloads Prometheus' configuration, then a scrape or two.
SCRAPE_TIMEOUT = 180
MUST_HAVE_DATA = ("Submit rate", "Jobs finished per status", "Queue depth", "In-flight jobs per worker")
PAUSE = "autoscaling.keda.sh/paused-replicas"


@pytest.fixture(scope="module")
def deployed(cluster: Cluster) -> Cluster:
    cluster.apply()  # what test_e2e.py left, or a fresh deploy when run alone
    cluster.wait_ready(DEPLOY_TIMEOUT)
    return cluster


def ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/-/ready", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="module")
def prom(cluster: Cluster) -> Any:
    with contextlib.ExitStack() as stack:
        url = PROMETHEUS_URL
        if not ready(url) and "CONVEYOR_PROMETHEUS_URL" not in os.environ:
            monitoring = Cluster("monitoring")
            port = stack.enter_context(monitoring.port_forward("svc/prometheus-operated", 9090))
            url = f"http://127.0.0.1:{port}"
        if not ready(url):
            pytest.fail(f"no Prometheus at {url}; set CONVEYOR_PROMETHEUS_URL")
        with httpx.Client(base_url=url, timeout=10) as http:
            yield http


def query(prom: httpx.Client, expr: str) -> list[dict[str, Any]]:
    body = prom.get("/api/v1/query", params={"query": expr}).json()
    assert body["status"] == "success", f"{expr}: {body.get('error')}"
    return body["data"]["result"]


def targets(prom: httpx.Client, ns: str) -> dict[str, list[str]]:
    """Scrape job -> the health of each of its targets in the namespace."""
    found: dict[str, list[str]] = {}
    for target in prom.get("/api/v1/targets", params={"state": "active"}).json()["data"]["activeTargets"]:
        labels = target["labels"]
        if labels.get("namespace") == ns and labels.get("job") in JOBS:
            found.setdefault(labels["job"], []).append(target["health"])
    return found


def test_01_prometheus_scrapes_both_services(deployed: Cluster, prom: httpx.Client, report) -> None:
    start = time.monotonic()
    up = wait_for(
        lambda: (
            (t := targets(prom, deployed.ns)) and all(t.get(j) and set(t[j]) == {"up"} for j in JOBS) and t
        ),
        SCRAPE_TIMEOUT,
        2,
        "Prometheus to scrape the api and the worker",
    )
    report(
        "Prometheus scrapes the app (ServiceMonitor api, PodMonitor worker)",
        f"{', '.join(f'{job}: {len(h)} target(s) up' for job, h in sorted(up.items()))}"
        f" {time.monotonic() - start:.0f} s after the deploy was ready",
    )


def test_02_every_query_and_rule_evaluates(deployed: Cluster, prom: httpx.Client, report) -> None:
    with deployed.frontend() as url, Conveyor(url) as conveyor:
        ids = [conveyor.submit("sleep", {"seconds": 1})["id"] for _ in range(20)]
        conveyor.wait_finished(ids, 120)
    names = {rule["alert"] for rule in alerts()}
    groups = wait_for(
        lambda: [g for g in prom.get("/api/v1/rules").json()["data"]["groups"] if g["name"] == "conveyor"],
        SCRAPE_TIMEOUT,
        2,
        "the PrometheusRule to be loaded",
    )
    loaded = {rule["name"]: rule for group in groups for rule in group["rules"]}
    assert names <= set(loaded), f"not loaded: {names - set(loaded)}"
    for name in names:
        assert loaded[name]["health"] != "err", f"{name}: {loaded[name].get('lastError')}"
        assert loaded[name]["annotations"]["runbook"]
    for rule in alerts():
        query(prom, rule["expr"])
    rows = []
    start = time.monotonic()
    for title, exprs in panel_queries().items():
        if title in MUST_HAVE_DATA:  # rates need two scrapes of the jobs just run
            wait_for(lambda e=exprs: any(query(prom, x) for x in e), 120, 3, f"data in panel {title!r}")
        rows.append([title, str(len(exprs)), str(sum(len(query(prom, x)) for x in exprs))])
    report(
        "Every dashboard query and alert expression on the live Prometheus",
        f"{len(names)} alerts loaded and evaluated without error; panels (data within "
        f"{time.monotonic() - start:.0f} s of 20 jobs):\n" + table(["panel", "queries", "series"], rows),
    )


def pause_workers(cluster: Cluster, replicas: str | None) -> None:
    value = "-" if replicas is None else f"={replicas}"
    kubectl("-n", cluster.ns, "annotate", "--overwrite", "scaledobject/worker", f"{PAUSE}{value}")


def alert_states(prom: httpx.Client, name: str, ns: str) -> set[str]:
    """States of alert ``name`` for the namespace (or without one: absent() keeps no label)."""
    return {
        alert["state"]
        for alert in prom.get("/api/v1/alerts").json()["data"]["alerts"]
        if alert["labels"]["alertname"] == name and alert["labels"].get("namespace", ns) == ns
    }


def test_03_no_live_worker_alert(deployed: Cluster, prom: httpx.Client, report) -> None:
    rule = next(r for r in alerts() if r["alert"] == "ConveyorNoLiveWorker")
    hold = int(rule["for"].rstrip("m")) * 60
    assert not alert_states(prom, rule["alert"], deployed.ns), "raised while workers run"
    pause_workers(deployed, "0")
    try:
        wait_for(lambda: not deployed.pods("app.kubernetes.io/name=worker"), 180, 1, "every worker gone")
        gone = time.monotonic()
        seen: dict[str, float] = {}

        def fired() -> bool:
            for state in alert_states(prom, rule["alert"], deployed.ns):
                seen.setdefault(state, time.monotonic() - gone)
            return "firing" in seen

        # Its `for`, a scrape and an evaluation (15 s each), and a minute of slack for a busy machine.
        wait_for(fired, hold + 15 + 15 + 60, 2, f"{rule['alert']} to fire")
    finally:
        pause_workers(deployed, None)
    wait_for(
        lambda: deployed.apps.read_namespaced_deployment("worker", deployed.ns).status.ready_replicas, 180
    )
    report(
        "Every worker stopped (KEDA paused at 0 replicas)",
        f"{rule['alert']} (for: {rule['for']}): pending after {seen.get('pending', 0):.0f} s, "
        f"firing after {seen['firing']:.0f} s of no worker pod; workers back once unpaused",
    )


def test_04_alert_labels_are_bounded(prom: httpx.Client) -> None:
    """No job id in any label of the app's series (cardinality stays bounded)."""
    series = query(prom, 'count by (__name__) ({job=~"conveyor-api|conveyor-worker"})')
    assert len(series) > 20
    labels = prom.get("/api/v1/labels", params={"match[]": '{job=~"conveyor-api|conveyor-worker"}'}).json()
    assert "job_id" not in labels["data"] and "id" not in labels["data"], json.dumps(labels["data"])
