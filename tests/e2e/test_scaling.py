"""Autoscaling on a real cluster: a burst of sleep jobs scales the workers (KEDA,
the stream's lag) from their minimum to at least 4 and back after the drain,
and the api's HPA reads CPU from metrics-server. The same code as
`make demo DEMO=autoscale`. Runs on the dev overlay test_e2e.py leaves."""

from __future__ import annotations

import os

import pytest
from kubernetes import client

from demo.autoscale import burst
from demo.kube import DEPLOY_TIMEOUT, Cluster, wait_for

pytestmark = pytest.mark.cluster

if os.environ.get("CONVEYOR_E2E") != "1":
    pytest.skip("run with `make e2e` (or set CONVEYOR_E2E=1)", allow_module_level=True)


@pytest.fixture(scope="module")
def deployed(cluster: Cluster) -> Cluster:
    cluster.apply()
    cluster.wait_ready(DEPLOY_TIMEOUT)
    return cluster


def test_01_a_burst_scales_the_workers_out_and_back(deployed: Cluster, report) -> None:
    lines: list[str] = []
    with deployed.frontend() as url:
        run = burst(deployed, url, progress=lambda line: (lines.append(line), print(line, flush=True)))
    report(
        "Autoscaling: a burst of sleep jobs (demo/autoscale.py)",
        "\n".join(lines) + "\n\n" + run.summary(),
    )
    assert run.failed == 0
    assert run.drained_s is not None, "the burst did not finish"
    assert run.peak_replicas >= 4, f"peak {run.peak_replicas} workers"
    assert run.back_to_min_s is not None, f"workers not back at {run.min_replicas}"


def test_02_the_api_hpa_reads_cpu_from_metrics_server(deployed: Cluster, report) -> None:
    hpas = client.AutoscalingV2Api()

    def cpu() -> int | None:
        status = hpas.read_namespaced_horizontal_pod_autoscaler("api", deployed.ns).status
        for metric in status.current_metrics or []:
            if metric.type == "Resource" and metric.resource.name == "cpu":
                return metric.resource.current.average_utilization
        return None

    utilization = wait_for(lambda: cpu() is not None and [cpu()], 180, 5, "the api HPA's CPU reading")[0]
    hpa = hpas.read_namespaced_horizontal_pod_autoscaler("api", deployed.ns)
    able = {c.type: c.status for c in hpa.status.conditions or []}
    assert able.get("ScalingActive") == "True", hpa.status.conditions
    report(
        "The api's HPA",
        f"CPU from metrics-server: {utilization} % of the request "
        f"(target {hpa.spec.metrics[0].resource.target.average_utilization} %), "
        f"{hpa.status.current_replicas} replica(s), min {hpa.spec.min_replicas} max {hpa.spec.max_replicas}",
    )
