"""What runs is pinned, and one tool moves every pin: prod's PostgreSQL and Redis by digest,
and renovate.json covers each kind of file that names a version."""

from __future__ import annotations

import json
import re

from tests.deploy.test_manifests import ROOT, containers, render

RENOVATE = json.loads((ROOT / "renovate.json").read_text())
DIGEST = r"@sha256:[0-9a-f]{64}"


def data_images(env: str) -> dict[str, str]:
    objs = render(ROOT / "deploy" / "overlays" / env)
    return {
        o["metadata"]["name"]: c["image"] for o in objs if o["kind"] == "StatefulSet" for c in containers(o)
    }


def test_prod_runs_postgres_and_redis_by_version_and_digest() -> None:
    images = data_images("prod")
    assert re.fullmatch(rf"postgres:17\.\d+-alpine{DIGEST}", images["postgres"]), images
    assert re.fullmatch(rf"redis:8\.\d+\.\d+-alpine{DIGEST}", images["redis"]), images


def test_dev_runs_the_tags_the_local_clusters_carry() -> None:
    assert data_images("dev") == {"postgres": "postgres:17-alpine", "redis": "redis:8-alpine"}


def test_renovate_has_a_manager_for_every_kind_of_pinned_file() -> None:
    managers = set(RENOVATE["enabledManagers"])
    present = {
        "pep621": (ROOT / "uv.lock").exists(),
        "dockerfile": any(ROOT.glob("services/*/Dockerfile")),
        "docker-compose": (ROOT / "docker-compose.yml").exists(),
        "kustomize": any(ROOT.glob("deploy/**/kustomization.yaml")),
        "kubernetes": any(ROOT.glob("deploy/base/*/statefulset.yaml")),
        "github-actions": any(ROOT.glob(".github/workflows/*.yml")),
    }
    assert {name for name, there in present.items() if there} <= managers
    # One tool: a second one would open the same pull requests twice.
    assert not (ROOT / ".github" / "dependabot.yml").exists()


def test_renovate_finds_every_base_image_set_as_an_arg() -> None:
    (custom,) = [m for m in RENOVATE["customManagers"] if m["datasourceTemplate"] == "docker"]
    pattern = re.compile(custom["matchStrings"][0].replace("(?<", "(?P<"))
    found = {}
    for dockerfile in ROOT.glob("services/*/Dockerfile"):
        for line in dockerfile.read_text().splitlines():
            if re.match(r"ARG [A-Z0-9_]+_IMAGE=", line):
                match = pattern.fullmatch(line.strip())
                assert match, f"{dockerfile}: {line}"
                found[match["depName"]] = match["currentValue"]
    assert {"python", "ghcr.io/astral-sh/uv", "nginxinc/nginx-unprivileged"} <= set(found), found
