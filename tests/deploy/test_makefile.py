"""mk/k8s.mk: the secrets target never overwrites, versions are pinned, and
every target documents itself for `make help`."""

from __future__ import annotations

import os
import re
import stat
import subprocess

import pytest

from tests.deploy import checks

FRAGMENT = checks.MAKE_FRAGMENT.read_text()


def make(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["make", "-s", *args], cwd=checks.REPO, capture_output=True, text=True, check=False)


def test_secrets_env_is_created_random_and_private(tmp_path):
    target = tmp_path / "secrets.env"
    result = make(f"K8S_SECRETS_ENV={target}", "secrets-k8s")
    assert result.returncode == 0, result.stderr
    values = dict(line.split("=", 1) for line in target.read_text().splitlines())
    assert set(values) == {"postgres-password", "redis-password"}
    for value in values.values():
        assert re.fullmatch(r"[0-9a-f]{48}", value)
    assert values["postgres-password"] != values["redis-password"]
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600


def test_secrets_env_is_never_overwritten(tmp_path):
    target = tmp_path / "secrets.env"
    target.write_text("postgres-password=kept\nredis-password=kept\n")
    before = target.stat().st_mtime_ns
    result = make(f"K8S_SECRETS_ENV={target}", "secrets-k8s")
    assert result.returncode == 0, result.stderr
    assert target.read_text() == "postgres-password=kept\nredis-password=kept\n"
    assert target.stat().st_mtime_ns == before


@pytest.mark.parametrize(
    "name", ["KUSTOMIZE_VERSION", "KUBECONFORM_VERSION", "CONFTEST_VERSION", "KUBECTL_VERSION"]
)
def test_tool_versions_are_pinned(name):
    assert re.fullmatch(r"v\d+\.\d+\.\d+", checks.make_variable(name))


def test_kubectl_source_matches_the_named_version():
    go_mod = (checks.DEPLOY / "tools" / "kubectl" / "go.mod").read_text()
    major_minor_patch = checks.make_variable("KUBECTL_VERSION").removeprefix("v1.")
    assert re.search(rf"^\s*k8s\.io/kubectl v0\.{re.escape(major_minor_patch)}$", go_mod, re.MULTILINE), (
        go_mod
    )


def test_psa_check_source_matches_the_named_version():
    go_mod = (checks.DEPLOY / "tools" / "psa-check" / "go.mod").read_text()
    version = checks.make_variable("PSA_VERSION")
    assert re.search(rf"^\s*k8s\.io/pod-security-admission {re.escape(version)}$", go_mod, re.MULTILINE), (
        go_mod
    )


def test_every_target_has_help():
    in_define = False
    for line in FRAGMENT.splitlines():
        if line.startswith(("define ", "endef")):
            in_define = line.startswith("define ")
            continue
        if in_define:
            continue
        match = re.match(r"^([^\s#=:][^=:]*?):(?!=)(.*)$", line)
        if match and not line.startswith((".PHONY", "define", "\t")):
            assert "## " in match.group(2), f"target without help: {line}"


def test_help_lists_the_deploy_targets():
    result = make("help")
    assert result.returncode == 0, result.stderr
    for target in (
        "manifests",
        "deploy",
        "undeploy",
        "secrets-k8s",
        "test-deploy",
        "lint-k8s",
        "k8s-tools",
        "kubectl-install",
    ):
        assert re.search(rf"^\s*(\x1b\[[0-9;]*m)?{target}\b", result.stdout, re.MULTILINE), target


def test_deploy_refuses_an_unknown_environment():
    result = make("deploy", "ENV=staging", "KUBECTL=/bin/false")
    assert result.returncode != 0
    assert "ENV must be dev or prod" in result.stderr


def test_undeploy_of_prod_needs_confirmation():
    result = make("undeploy", "ENV=prod", "KUBECTL=/bin/false")
    assert result.returncode != 0
    assert "CONFIRM=conveyor" in result.stderr
