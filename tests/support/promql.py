"""promtool and PromQL helpers for the monitoring tests: promtool from PATH, or
from the image `make test` builds from Debian's prometheus package."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "deploy/components/monitoring"
PROMTOOL_IMAGE = os.environ.get("PROMTOOL_IMAGE", "conveyor-promtool")

# Grafana's variables, replaced by what Grafana would send.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$namespace": "conveyor-dev"}
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless"}
KEYWORDS |= {"bool", "offset", "inf", "nan"}


def promtool(*args: str, workdir: Path) -> subprocess.CompletedProcess[str]:
    """Run promtool in ``workdir`` (mounted read-only in the container)."""
    if local := os.environ.get("PROMTOOL") or shutil.which("promtool"):
        command = [local, *args]
    else:
        command = ["docker", "run", "--rm", "--network=none", "--user", f"{os.getuid()}:{os.getgid()}"]
        command += ["-v", f"{workdir}:/work:ro", "-w", "/work"]
        command += ["--entrypoint", "/usr/bin/promtool", PROMTOOL_IMAGE, *args]
    return subprocess.run(command, cwd=workdir, capture_output=True, text=True, check=False)


def rule_groups() -> list[dict]:
    return yaml.safe_load((MONITORING / "prometheusrule.yaml").read_text())["spec"]["groups"]


def alerts() -> list[dict]:
    return [rule for group in rule_groups() for rule in group["rules"] if "alert" in rule]


def dashboard() -> dict:
    return json.loads((MONITORING / "dashboards/conveyor.json").read_text())


def panel_queries() -> dict[str, list[str]]:
    """Each panel's expressions, Grafana's variables filled in."""
    queries = {}
    for panel in dashboard()["panels"]:
        exprs = [target["expr"] for target in panel["targets"]]
        for variable, value in GRAFANA_VARIABLES.items():
            exprs = [expr.replace(variable, value) for expr in exprs]
        queries[panel["title"]] = exprs
    return queries


def metric_names(expr: str) -> set[str]:
    """The metric names an expression reads: identifiers that are not a function,
    a keyword, a label (in braces or a grouping clause) or a duration."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", "{}", text)
    text = re.sub(r"\[[^\]]*\]", "[]", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"(?<![\w:.])([a-zA-Z_:][\w:]*)(?![\w:])(?!\s*\()", text):
        if match.group(1).lower() not in KEYWORDS:
            names.add(match.group(1))
    return names
