"""The Grafana dashboard: every panel's PromQL parses (promtool checks it as a
recording rule), and every metric it or an alert reads is one the services export."""

import re

import httpx
import yaml

from tests.support.fixtures import wait_finished, wait_for
from tests.support.promql import alerts, dashboard, metric_names, panel_queries, promtool

# Made by Prometheus itself, not by the services.
SCRAPE_METRICS = {"up"}
MUST_HAVE = {
    "Submit rate",
    "Submit latency",
    "Jobs finished per status",
    "Queue depth",
    "In-flight jobs per worker",
}


def test_every_panel_query_parses(tmp_path) -> None:
    rules = [
        {"record": f"panel_{i}_{j}", "expr": expr}
        for i, exprs in enumerate(panel_queries().values())
        for j, expr in enumerate(exprs)
    ]
    (tmp_path / "panels.yaml").write_text(yaml.safe_dump({"groups": [{"name": "panels", "rules": rules}]}))
    checked = promtool("check", "rules", "panels.yaml", workdir=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"{len(rules)} rules found" in checked.stdout


def test_the_dashboard_has_the_panels_on_call_asks_for() -> None:
    titles = {panel["title"] for panel in dashboard()["panels"]}
    assert MUST_HAVE | {"Oldest queued job", "Retries and reclaims", "Pod restarts"} <= titles
    assert all(panel["datasource"]["uid"] == "${datasource}" for panel in dashboard()["panels"])


def test_metric_names_are_parsed_from_promql() -> None:
    expr = 'sum by (task) (rate(foo_total{a="b", job=~"x|y"}[5m])) / on (task) group_left bar_seconds > 0.5'
    assert metric_names(expr) == {"foo_total", "bar_seconds"}


def exported(url: str) -> set[str]:
    """Every sample name /metrics can show, histograms and counters with their suffixes."""
    names = set()
    for name, kind in re.findall(r"^# TYPE (\S+) (\S+)$", httpx.get(f"{url}/metrics").text, re.M):
        suffixes = {"histogram": ("_bucket", "_sum", "_count"), "counter": ("_total", "_created")}
        names |= {name, *(name + suffix for suffix in suffixes.get(kind, ()))}
    return names


def test_every_queried_metric_is_exported(client, api, worker) -> None:
    job = client.post("/api/jobs", json={"task": "uppercase", "input": "m"}).json()
    wait_finished(client, job["id"])
    wait_for(lambda: api.metric("conveyor_workers_live") == 1, timeout=15, what="the gauges' refresh")
    names = exported(api.url) | exported(worker.url) | SCRAPE_METRICS
    queried = {name for exprs in panel_queries().values() for expr in exprs for name in metric_names(expr)}
    queried |= {name for alert in alerts() for name in metric_names(alert["expr"])}
    assert len(queried) > 10
    assert queried <= names, f"not exported: {sorted(queried - names)}"
