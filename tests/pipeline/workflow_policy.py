"""The rules .github/workflows must keep, as plain functions.

Every check returns a list of problems (empty when the workflow is fine), so the
tests can assert both that the real workflows pass and that a broken copy of
them is caught. Trigger semantics follow GitHub's documentation of `on.push`
filters: a push runs the workflow only when its ref passes the filters of its
kind (branches for refs/heads/, tags for refs/tags/), and a `push` that filters
only one kind never runs for the other kind.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO / ".github" / "workflows"

# owner/repo[/path]@<full commit SHA>
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[^@\s]+)?@[0-9a-f]{40}$")
# the line holding it must say which release the SHA is: "# v1.2.3"
VERSION_COMMENT = re.compile(r"#\s*v\d+\.\d+\.\d+\b")
SECRET_EXPR = re.compile(r"\$\{\{[^}]*\b(secrets\b|github\.token\b)")
# Attacker-controlled text (titles, branch names, bodies) must not be pasted
# into a shell script; it goes through env: like secrets do.
UNTRUSTED_EXPR = re.compile(r"\$\{\{[^}]*\b(github\.event\.|github\.head_ref\b)")
STRICT_SHELL = "set -euo pipefail"


# --- loading ---------------------------------------------------------------


def load(text: str) -> dict[str, Any]:
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError("a workflow is a mapping")
    # YAML 1.1 reads the bare key `on` as the boolean true.
    if True in data:
        data["on"] = data.pop(True)
    return data


def read(name: str) -> str:
    return (WORKFLOWS / name).read_text()


def events(workflow: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The `on:` section as {event: config} whatever its spelling."""
    on = workflow.get("on")
    if isinstance(on, str):
        return {on: {}}
    if isinstance(on, list):
        return {event: {} for event in on}
    if isinstance(on, dict):
        return {event: (config or {}) for event, config in on.items()}
    return {}


def jobs(workflow: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return workflow.get("jobs") or {}


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return job.get("steps") or []


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


# --- GitHub filter patterns --------------------------------------------------


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """GitHub's filter pattern syntax: * (not /), ** (anything), ?, +, [...]."""
    out, i = [], 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char in "?+":
            out.append(char)  # zero-or-one / one-or-more of the previous character
        elif char == "[":
            end = pattern.index("]", i)
            out.append(pattern[i : end + 1])
            i = end + 1
            continue
        elif char == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        else:
            out.append(re.escape(char))
        i += 1
    return re.compile("".join(out) + r"\Z")


def pattern_matches(pattern: str, value: str) -> bool:
    return bool(_pattern_regex(pattern).match(value))


def _passes(include: list[str] | None, ignore: list[str] | None, name: str) -> bool:
    if ignore is not None:
        return not any(pattern_matches(p, name) for p in ignore)
    if include is None:
        return True
    # Later patterns win; a leading ! excludes.
    selected = False
    for pattern in include:
        if pattern.startswith("!"):
            if pattern_matches(pattern[1:], name):
                selected = False
        elif pattern_matches(pattern, name):
            selected = True
    return selected


def runs_on(workflow: dict[str, Any], event: str, ref: str | None = None) -> bool:
    """Whether `event` on `ref` starts this workflow.

    For push, ref is the pushed ref (refs/heads/x or refs/tags/y); for
    pull_request, the base branch (refs/heads/x). Path filters are ignored.
    """
    config = events(workflow).get(event)
    if config is None:
        return False
    if ref is None or event not in {"push", "pull_request"}:
        return True
    if ref.startswith("refs/heads/"):
        kind, other, name = "branches", "tags", ref.removeprefix("refs/heads/")
    elif ref.startswith("refs/tags/"):
        if event != "push":
            return False
        kind, other, name = "tags", "branches", ref.removeprefix("refs/tags/")
    else:
        raise ValueError(f"unexpected ref {ref}")
    include, ignore = config.get(kind), config.get(f"{kind}-ignore")
    if include is None and ignore is None and (other in config or f"{other}-ignore" in config):
        return False
    return _passes(
        as_list(include) if include is not None else None,
        as_list(ignore) if ignore is not None else None,
        name,
    )


# --- rules every workflow keeps ----------------------------------------------


def _uses_refs(workflow: dict[str, Any]) -> list[tuple[str, str]]:
    found = []
    for job_id, job in jobs(workflow).items():
        if "uses" in job:  # a reusable workflow
            found.append((job_id, job["uses"]))
        for step in steps(job):
            if "uses" in step:
                found.append((job_id, step["uses"]))
    return found


def check_pins(text: str) -> list[str]:
    problems = []
    workflow = load(text)
    lines = text.splitlines()
    for job_id, ref in _uses_refs(workflow):
        if ref.startswith("./"):
            continue  # an action of this repository: reviewed with it
        if ref.startswith("docker://"):
            if "@sha256:" not in ref:
                problems.append(f"{job_id}: {ref} is not pinned to a digest")
            continue
        if not PINNED.match(ref):
            problems.append(f"{job_id}: {ref} is not pinned to a full commit SHA")
            continue
        holders = [line for line in lines if re.search(rf"uses:\s*['\"]?{re.escape(ref)}", line)]
        if not all(VERSION_COMMENT.search(line) for line in holders):
            problems.append(f"{job_id}: {ref} has no '# vX.Y.Z' comment naming its release")
    return problems


def check_permissions(workflow: dict[str, Any]) -> list[str]:
    problems = []
    top = workflow.get("permissions", "missing")
    if top not in ({}, {"contents": "read"}):
        problems.append(f"top-level permissions must be {{}} or contents: read, not {top!r}")
    for job_id, job in jobs(workflow).items():
        if "permissions" not in job:
            problems.append(f"{job_id}: no explicit permissions")
        elif not isinstance(job["permissions"], dict):
            problems.append(f"{job_id}: permissions {job['permissions']!r} instead of a scope list")
    return problems


def write_scopes(workflow: dict[str, Any]) -> dict[str, set[str]]:
    """{job: {scopes it may write}}"""
    return {
        job_id: {scope for scope, level in (job.get("permissions") or {}).items() if level == "write"}
        for job_id, job in jobs(workflow).items()
        if isinstance(job.get("permissions"), dict)
    }


def check_run_scripts(workflow: dict[str, Any]) -> list[str]:
    problems = []
    for job_id, job in jobs(workflow).items():
        for index, step in enumerate(steps(job)):
            script = step.get("run")
            if script is None:
                continue
            where = f"{job_id}: step {step.get('name') or index + 1}"
            if SECRET_EXPR.search(script):
                problems.append(f"{where}: a secret is expanded in the script (pass it through env:)")
            if UNTRUSTED_EXPR.search(script):
                problems.append(f"{where}: event data is expanded in the script (pass it through env:)")
            first = next((line.strip() for line in script.splitlines() if line.strip()), "")
            if first != STRICT_SHELL:
                problems.append(f"{where}: script does not start with '{STRICT_SHELL}'")
            shell = step.get("shell")
            if shell is not None and not str(shell).startswith("bash"):
                problems.append(f"{where}: runs under {shell!r}, not bash")
    return problems


def check_common(text: str) -> list[str]:
    workflow = load(text)
    problems = []
    if "pull_request_target" in events(workflow):
        problems.append("pull_request_target runs untrusted code with a write token")
    problems += check_pins(text)
    problems += check_permissions(workflow)
    problems += check_run_scripts(workflow)
    return problems


# --- ci.yml ------------------------------------------------------------------


def _runs(job: dict[str, Any]) -> str:
    return "\n".join(step.get("run", "") for step in steps(job))


def _action_steps(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [step for step in steps(job) if str(step.get("uses", "")).startswith(f"{action}@")]


def check_ci(text: str) -> list[str]:
    workflow = load(text)
    problems = check_common(text)
    for branch in ("develop", "main"):
        if not runs_on(workflow, "push", f"refs/heads/{branch}"):
            problems.append(f"a push to {branch} does not run CI")
        if not runs_on(workflow, "pull_request", f"refs/heads/{branch}"):
            problems.append(f"a pull request into {branch} does not run CI")
    if runs_on(workflow, "push", "refs/tags/v1.2.3"):
        problems.append("CI runs on tag pushes (release.yml owns tags)")
    if "pull_request_target" in events(workflow) or "workflow_run" in events(workflow):
        problems.append("CI must not run privileged triggers")

    concurrency = workflow.get("concurrency") or {}
    if (
        "github.ref" not in str(concurrency.get("group", ""))
        or concurrency.get("cancel-in-progress") is not True
    ):
        problems.append("CI needs a per-ref concurrency group with cancel-in-progress: true")

    all_jobs = jobs(workflow)
    expected = {
        "lint": ["make lint", "make test-deploy"],
        "test": ["make test"],
        "e2e": [
            "make e2e",
            "kind load docker-image",
            "kubectl apply -k deploy/overlays/dev/namespace",
            "kubectl apply -k deploy/overlays/dev",
            "make rollout-status",
        ],
    }
    for job_id, commands in expected.items():
        if job_id not in all_jobs:
            problems.append(f"CI has no {job_id} job")
            continue
        script = re.sub(r'"\$\{OVERLAY\}([^"]*)"', r"deploy/overlays/dev\1", _runs(all_jobs[job_id]))
        for command in commands:
            # A whole word at its end: ".../dev/namespace" is not ".../dev".
            if not re.search(rf"{re.escape(command)}(?![\w/.-])", script):
                problems.append(f"{job_id}: does not run '{command}'")

    build = all_jobs.get("build")
    if build is None:
        problems.append("CI has no build job")
    else:
        builds = _action_steps(build, "docker/build-push-action")
        if not builds or not _action_steps(build, "docker/setup-buildx-action"):
            problems.append("build: images are not built with buildx (build-push-action)")
        for step in builds:
            options = step.get("with") or {}
            if options.get("push") is not False:
                problems.append("build: CI builds must say push: false")
            if "type=gha" not in str(options.get("cache-from", "")) or "type=gha" not in str(
                options.get("cache-to", "")
            ):
                problems.append("build: no GitHub Actions cache (type=gha)")
    if any(scopes for scopes in write_scopes(workflow).values()):
        problems.append("CI jobs must not hold write permissions")
    e2e = all_jobs.get("e2e") or {}
    if "build" not in as_list(e2e.get("needs")):
        problems.append("e2e: does not need the build job's images")
    if not _action_steps(e2e, "helm/kind-action"):
        problems.append("e2e: no kind cluster (helm/kind-action)")
    return problems


# --- release.yml ---------------------------------------------------------------

RELEASE_WRITES = {
    "build": {"packages", "id-token", "attestations"},
    "release": {"contents"},
}


def check_release(text: str) -> list[str]:
    workflow = load(text)
    problems = check_common(text)

    if set(events(workflow)) != {"push"}:
        problems.append(f"release.yml must run on tag pushes only, not {sorted(events(workflow))}")
    push = events(workflow).get("push", {})
    if as_list(push.get("tags")) != ["v*.*.*"] or set(push) != {"tags"}:
        problems.append("release.yml push filter must be exactly tags: ['v*.*.*']")
    for ref, wanted in [
        ("refs/tags/v1.4.2", True),
        ("refs/tags/v10.20.30", True),
        ("refs/tags/v1.4", False),
        ("refs/tags/latest", False),
        ("refs/tags/1.4.2", False),
        ("refs/heads/main", False),
        ("refs/heads/develop", False),
        ("refs/heads/v1.4.2", False),
    ]:
        if runs_on(workflow, "push", ref) != wanted:
            problems.append(f"release.yml {'does not run' if wanted else 'runs'} on a push of {ref}")
    if runs_on(workflow, "pull_request", "refs/heads/main"):
        problems.append("release.yml runs on pull requests")

    all_jobs = jobs(workflow)
    missing = [j for j in ("verify", "build", "scan", "deploy", "release") if j not in all_jobs]
    if missing:
        return [*problems, *(f"release.yml has no {job_id} job" for job_id in missing)]

    deploy = all_jobs["deploy"]
    needs = set(as_list(deploy.get("needs")))
    for required in ("build", "scan"):
        if required not in needs:
            problems.append(f"deploy: does not need the {required} job")
    environment = deploy.get("environment")
    name = environment.get("name") if isinstance(environment, dict) else environment
    if name != "production":
        problems.append("deploy: does not run in the production environment")
    script = _runs(deploy)
    for command in (
        "make set-image-digests",
        "kubectl apply -k",
        "make rollout-status",
        "make smoke",
        "make rollout-undo",
    ):
        if command not in script:
            problems.append(f"deploy: does not run '{command}'")
    undo = [step for step in steps(deploy) if "make rollout-undo" in step.get("run", "")]
    if undo and "failure()" not in str(undo[0].get("if", "")):
        problems.append("deploy: the rollback does not run on failure")

    build = all_jobs["build"]
    if "verify" not in as_list(build.get("needs")):
        problems.append("build: runs before the tag is verified")
    pushes = _action_steps(build, "docker/build-push-action")
    if not pushes:
        problems.append("build: no docker/build-push-action step")
    for step in pushes:
        options = step.get("with") or {}
        platforms = str(options.get("platforms", ""))
        if "linux/amd64" not in platforms or "linux/arm64" not in platforms:
            problems.append("build: images are not built for linux/amd64 and linux/arm64")
        if options.get("provenance") != "mode=max" or options.get("sbom") is not True:
            problems.append("build: no max provenance and SBOM attestations")
        if options.get("push") is not True:
            problems.append("build: the release build does not push")
    if not _action_steps(build, "docker/metadata-action"):
        problems.append("build: tags and labels do not come from docker/metadata-action")
    if not _action_steps(build, "docker/setup-qemu-action"):
        problems.append("build: no QEMU for the arm64 build")

    scan = all_jobs["scan"]
    if "build" not in as_list(scan.get("needs")):
        problems.append("scan: does not scan the build job's images")
    trivy = _action_steps(scan, "aquasecurity/trivy-action")
    if not trivy:
        problems.append("scan: no Trivy step")

    def is_gate(step: dict[str, Any]) -> bool:
        options = step.get("with") or {}
        return (
            str(options.get("severity")) == "CRITICAL"
            and str(options.get("ignore-unfixed")).lower() == "true"
            and str(options.get("exit-code")) == "1"
            and "if" not in step  # a condition could skip the gate
        )

    if trivy and not any(is_gate(step) for step in trivy):
        problems.append("scan: Trivy must fail (exit-code 1) on fixable CRITICAL findings")

    for job_id, scopes in write_scopes(workflow).items():
        extra = scopes - RELEASE_WRITES.get(job_id, set())
        if extra:
            problems.append(f"{job_id}: writes {sorted(extra)} it does not need")
    return problems
