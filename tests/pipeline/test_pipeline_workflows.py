"""The workflows keep their triggers, pins, permissions and secret handling.

Each rule is checked on the real files and, to show the check can fail, on a
copy with one thing broken.
"""

from __future__ import annotations

import re

import pytest

from tests.pipeline import workflow_policy as policy

CI = policy.read("ci.yml")
RELEASE = policy.read("release.yml")


def test_ci_keeps_every_rule():
    assert policy.check_ci(CI) == []


def test_release_keeps_every_rule():
    assert policy.check_release(RELEASE) == []


# --- triggers ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "ref", "ci", "release"),
    [
        ("push", "refs/heads/develop", True, False),
        ("push", "refs/heads/main", True, False),
        ("push", "refs/heads/feature/login", False, False),
        ("pull_request", "refs/heads/develop", True, False),
        ("pull_request", "refs/heads/main", True, False),
        ("push", "refs/tags/v1.4.2", False, True),
        ("push", "refs/tags/v0.1.0", False, True),
        ("push", "refs/tags/v1.4", False, False),
        ("push", "refs/tags/release-1", False, False),
        ("workflow_dispatch", None, False, False),
        ("schedule", None, False, False),
    ],
)
def test_triggers(event, ref, ci, release):
    assert policy.runs_on(policy.load(CI), event, ref) is ci
    assert policy.runs_on(policy.load(RELEASE), event, ref) is release


@pytest.mark.parametrize(
    ("pattern", "value", "matches"),
    [
        ("v*.*.*", "v1.2.3", True),
        ("v*.*.*", "v1.2", False),
        ("v*.*.*", "x1.2.3", False),
        ("feature/*", "feature/a", True),
        ("feature/*", "feature/a/b", False),
        ("feature/**", "feature/a/b", True),
        ("v[0-9]+.[0-9]+.[0-9]+", "v10.2.3", True),
        ("v[0-9]+.[0-9]+.[0-9]+", "v1.2.3-rc1", False),
    ],
)
def test_filter_patterns_follow_github(pattern, value, matches):
    assert policy.pattern_matches(pattern, value) is matches


def test_branch_filters_with_negation():
    workflow = {"on": {"push": {"branches": ["release/**", "!release/**-alpha"]}}}
    assert policy.runs_on(workflow, "push", "refs/heads/release/1.0")
    assert not policy.runs_on(workflow, "push", "refs/heads/release/1.0-alpha")
    assert not policy.runs_on(workflow, "push", "refs/tags/v1.0.0")


# --- the deploy job ----------------------------------------------------------------


def test_deploy_needs_build_and_scan_in_production():
    deploy = policy.jobs(policy.load(RELEASE))["deploy"]
    assert {"build", "scan"} <= set(policy.as_list(deploy["needs"]))
    assert deploy["environment"]["name"] == "production"


def test_deploy_uses_pushed_digests_and_rolls_back_on_failure():
    deploy = policy.jobs(policy.load(RELEASE))["deploy"]
    pin = next(s for s in deploy["steps"] if "make set-image-digests" in s.get("run", ""))
    assert {
        "${{ needs.build.outputs.api_digest }}",
        "${{ needs.build.outputs.worker_digest }}",
        "${{ needs.build.outputs.frontend_digest }}",
        "${{ needs.verify.outputs.version }}",
    } <= set(pin["env"].values())
    undo = next(s for s in deploy["steps"] if "make rollout-undo" in s.get("run", ""))
    assert undo["if"].startswith("failure()")


# --- pins, permissions, secrets ---------------------------------------------------


@pytest.mark.parametrize("text", [CI, RELEASE], ids=["ci", "release"])
def test_every_action_is_pinned_to_a_commit(text):
    refs = [ref for _, ref in policy._uses_refs(policy.load(text))]
    assert refs
    for ref in refs:
        assert policy.PINNED.match(ref), ref
    for line in text.splitlines():
        if re.match(r"\s*(-\s*)?uses:", line):
            assert policy.VERSION_COMMENT.search(line), line


@pytest.mark.parametrize("text", [CI, RELEASE], ids=["ci", "release"])
def test_every_job_states_its_permissions(text):
    workflow = policy.load(text)
    assert workflow["permissions"] == {}
    for job_id, job in policy.jobs(workflow).items():
        assert isinstance(job.get("permissions"), dict), job_id


def test_only_the_release_jobs_that_need_it_can_write():
    assert all(scopes == set() for scopes in policy.write_scopes(policy.load(CI)).values())
    scopes = policy.write_scopes(policy.load(RELEASE))
    assert scopes["build"] == {"packages", "id-token", "attestations"}
    assert scopes["release"] == {"contents"}
    assert scopes["deploy"] == scopes["scan"] == scopes["verify"] == set()


@pytest.mark.parametrize("text", [CI, RELEASE], ids=["ci", "release"])
def test_no_secret_is_expanded_in_a_script(text):
    for job in policy.jobs(policy.load(text)).values():
        for step in policy.steps(job):
            script = step.get("run", "")
            assert not re.search(r"\$\{\{\s*(secrets\.|github\.token)", script), script


# --- the checks catch broken copies -----------------------------------------------

PIN = "actions/checkout@de0fac2e4500dabe0009e67214ff5f5447ce83dd # v6.0.2"
KUBECONFIG_STEP = """        env:
          KUBECONFIG_B64: ${{ secrets.KUBECONFIG_B64 }}
        run: |
          set -euo pipefail
          if [[ -z "${KUBECONFIG_B64}" ]]; then"""

BROKEN = [
    # (workflow, what to replace, replacement, a problem the check must report)
    ("release", 'tags: ["v*.*.*"]', 'tags: ["v*.*.*"]\n    branches: [main]', "push filter must be exactly"),
    ("release", 'tags: ["v*.*.*"]', 'tags: ["v*"]', "runs on a push of refs/tags/v1.4"),
    ("release", 'tags: ["v*.*.*"]', 'tags: ["*"]', "runs on a push of refs/tags/latest"),
    ("release", "on:\n  push:", "on:\n  pull_request:\n  push:", "tag pushes only"),
    ("release", "on:\n  push:", "on:\n  workflow_dispatch:\n  push:", "tag pushes only"),
    (
        "release",
        "needs: [verify, build, scan]",
        "needs: [verify, build]",
        "deploy: does not need the scan job",
    ),
    (
        "release",
        "needs: [verify, build, scan]",
        "needs: [verify, scan]",
        "deploy: does not need the build job",
    ),
    ("release", "name: production", "name: staging", "production environment"),
    (
        "release",
        "if: failure() && steps.snapshot.outcome == 'success'\n        run: |\n"
        "          set -euo pipefail\n          make rollout-undo",
        "if: success()\n        run: |\n          set -euo pipefail\n          make rollout-undo",
        "rollback does not run on failure",
    ),
    ("release", 'exit-code: "1"', 'exit-code: "0"', "fixable CRITICAL"),
    ("release", "ignore-unfixed: true", "ignore-unfixed: false", "fixable CRITICAL"),
    (
        "release",
        "platforms: linux/amd64,linux/arm64",
        "platforms: linux/amd64",
        "linux/amd64 and linux/arm64",
    ),
    ("release", "provenance: mode=max", "provenance: false", "provenance and SBOM"),
    ("release", PIN, "actions/checkout@v6", "not pinned to a full commit SHA"),
    ("release", PIN, "actions/checkout@de0fac2e", "not pinned to a full commit SHA"),
    ("release", PIN, PIN.split(" #")[0], "'# vX.Y.Z' comment"),
    ("release", "permissions: {}", "permissions: write-all", "top-level permissions"),
    (
        "release",
        "    permissions:\n      contents: write # create the release\n",
        "",
        "release: no explicit permissions",
    ),
    (
        "release",
        "      packages: read # pull the just-pushed image",
        "      packages: write",
        "scan: writes ['packages']",
    ),
    (
        "release",
        KUBECONFIG_STEP,
        KUBECONFIG_STEP.replace('[[ -z "${KUBECONFIG_B64}" ]]', '[[ -z "${{ secrets.KUBECONFIG_B64 }}" ]]'),
        "a secret is expanded in the script",
    ),
    (
        "release",
        'make smoke URL="${PUBLIC_URL}"',
        'make smoke URL="${PUBLIC_URL}" TOKEN="${{ github.token }}"',
        "a secret is expanded in the script",
    ),
    ("ci", "on:\n  push:", "on:\n  pull_request_target:\n  push:", "pull_request_target"),
    ("ci", "branches: [develop, main]", "branches: [develop]", "push to main does not run CI"),
    ("ci", "  pull_request:\n", "", "pull request into develop does not run CI"),
    ("ci", "cancel-in-progress: true", "cancel-in-progress: false", "concurrency"),
    ("ci", "          push: false\n", "          push: true\n", "push: false"),
    ("ci", "          make test-deploy\n", "          true\n", "does not run 'make test-deploy'"),
    ("ci", "          make e2e\n", "          true\n", "does not run 'make e2e'"),
    (
        "ci",
        '          kubectl apply -k "${OVERLAY}"\n',
        "",
        "does not run 'kubectl apply -k deploy/overlays/dev'",
    ),
    (
        "ci",
        '          kubectl apply -k "${OVERLAY}/namespace"\n',
        "",
        "does not run 'kubectl apply -k deploy/overlays/dev/namespace'",
    ),
    (
        "ci",
        "          set -euo pipefail\n          make lint",
        "          make lint",
        "does not start with 'set -euo pipefail'",
    ),
    (
        "ci",
        "          make test\n",
        '          echo "${{ github.event.pull_request.title }}"\n          make test\n',
        "event data is expanded in the script",
    ),
]


@pytest.mark.parametrize(("name", "old", "new", "expected"), BROKEN, ids=[case[3] for case in BROKEN])
def test_a_broken_copy_is_caught(name, old, new, expected):
    original = CI if name == "ci" else RELEASE
    assert old in original, f"the test's anchor {old!r} is gone from {name}.yml"
    broken = original.replace(old, new, 1)
    check = policy.check_ci if name == "ci" else policy.check_release
    problems = check(broken)
    assert any(expected in problem for problem in problems), problems
