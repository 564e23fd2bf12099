"""Fixtures for the manifest tests: rendered overlays, parsed objects, and
throw-away copies of deploy/ to break on purpose.

The tools are the pinned ones `make test-deploy` installs (checks.py finds
them). A missing tool fails the tests with the command that installs it:
nothing here is skipped because a tool is absent.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.deploy import checks

SECRETS_ENV = checks.DEPLOY / "base" / "secrets.env"


@pytest.fixture(scope="session", autouse=True)
def secrets_env() -> Path:
    """The base's secretGenerator needs deploy/base/secrets.env; make it the way `make` does."""
    if not SECRETS_ENV.exists():
        subprocess.run(["make", "-s", "secrets-k8s"], cwd=checks.REPO, check=True)
    return SECRETS_ENV


@pytest.fixture(scope="session")
def rendered_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("manifests")


@pytest.fixture(scope="session")
def rendered(rendered_dir: Path) -> dict[str, Path]:
    """{"dev": Path, "prod": Path}: each overlay rendered once per session."""
    try:
        return checks.render_all(rendered_dir)
    except checks.CheckError as exc:
        pytest.fail(str(exc))


def load(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


@pytest.fixture(scope="session")
def objects(rendered: dict[str, Path]) -> dict[str, list[dict]]:
    return {overlay: load(path) for overlay, path in rendered.items()}


def find(objs: list[dict], kind: str, name: str) -> dict:
    matches = [o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind}/{name}, found {len(matches)}"
    return matches[0]


def pod_spec(obj: dict) -> dict:
    return obj["spec"]["template"]["spec"]


def container(obj: dict, name: str, init: bool = False) -> dict:
    key = "initContainers" if init else "containers"
    matches = [c for c in pod_spec(obj).get(key, []) if c["name"] == name]
    assert len(matches) == 1, f"{obj['kind']}/{obj['metadata']['name']}: no {key} entry {name!r}"
    return matches[0]


def write(path: Path, objs: list[dict]) -> Path:
    path.write_text(yaml.safe_dump_all(objs, sort_keys=False))
    return path


@pytest.fixture
def deploy_copy(tmp_path: Path) -> Path:
    """A private copy of deploy/ (secrets.env included) to edit and render."""
    target = tmp_path / "deploy"
    shutil.copytree(checks.DEPLOY, target, ignore=shutil.ignore_patterns("tools"))
    return target


@pytest.fixture(scope="session")
def tool():
    def resolve(name: str) -> str:
        try:
            return checks.tool(name)
        except checks.CheckError as exc:
            pytest.fail(str(exc))

    return resolve
