"""Fixtures of the end-to-end tests; see test_e2e.py. The measurements every test
reports (seconds to recover, failed requests) are printed at the end of the run,
whatever pytest's output capture does."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kubernetes.client.rest import ApiException

from demo.kube import DEPLOY_TIMEOUT, Cluster

_REPORT: list[tuple[str, str]] = []
HERE = Path(__file__).parent


# They wipe a namespace of whatever cluster is current: only when asked for.
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if os.environ.get("CONVEYOR_E2E") == "1":
        return
    skip = pytest.mark.skip(
        reason="the e2e tests delete the namespace conveyor-dev of the current kubeconfig context; "
        "run them with `make e2e` (or set CONVEYOR_E2E=1)"
    )
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def report() -> Callable[[str, str], None]:
    def add(title: str, text: str) -> None:
        _REPORT.append((title, text))
        print(f"\n== {title}\n{text}")

    return add


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _REPORT:
        return
    terminalreporter.section("Conveyor on Kubernetes: what the e2e run measured")
    for n, (title, text) in enumerate(_REPORT, 1):
        terminalreporter.write_line(f"\n{n}. {title}")
        for line in text.splitlines():
            terminalreporter.write_line(f"  {line}")


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    try:
        kube = Cluster()
        kube.core.list_node()
    except Exception as exc:  # no kubeconfig, no context, no answer: say how to get one
        pytest.fail(
            f"no usable Kubernetes cluster in the current kubeconfig context ({exc}); run `make cluster`"
        )
    yield kube


@pytest.fixture(scope="module")
def running(cluster: Cluster) -> None:
    """The dev overlay of this checkout up and ready: applied again onto what test_e2e.py leaves
    (a no-op then), or from nothing for a file run alone."""
    if cluster.namespace_exists() and (
        cluster.core.read_namespace(cluster.ns).status.phase == "Terminating" or not same_secret(cluster)
    ):
        # Another checkout's deploy (a shared cluster): its database knows other passwords.
        cluster.remove_namespace()
    cluster.apply()
    cluster.wait_ready(DEPLOY_TIMEOUT)


def same_secret(cluster: Cluster) -> bool:
    """The cluster's conveyor-secrets is the one this checkout renders (or renders none)."""
    rendered = [
        d for d in cluster.rendered() if d["kind"] == "Secret" and d["metadata"]["name"] == "conveyor-secrets"
    ]
    if not rendered:
        return True
    try:
        live = cluster.core.read_namespaced_secret("conveyor-secrets", cluster.ns).data or {}
    except ApiException as exc:
        return exc.status == 404
    return live == rendered[0].get("data", {})
