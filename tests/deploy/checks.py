#!/usr/bin/env python3
"""The offline checks of the Kubernetes manifests, in one place.

`make lint-k8s` runs them from the command line and the tests in this folder
call the same functions (on the real overlays and on deliberately broken
copies), so what the tests prove about a check holds for the check CI runs.

    render      kustomize build of each environment: its namespace, then its
                overlay (pinned kustomize)
    schemas     kubeconform -strict against the OpenAPI schemas of each named
                Kubernetes version (generated offline by k8s_schemas.py)
    policy      conftest with deploy/policy: Pod Security Standard
                "restricted", probes, resources, read-only root filesystems
                (every overlay); explicit image versions (prod); no Secret
                values in any YAML file git tracks (the repository)
    psa         psa-check: every pod template through the API server's own
                Pod Security library, the reference for the Rego rules

Tools come from .tools/bin (installed by `make k8s-tools`), or from the
KUSTOMIZE, KUBECONFORM, CONFTEST and PSA_CHECK environment variables. The Kubernetes
versions come from K8S_SCHEMA_VERSIONS, else from mk/k8s.mk, so the Makefile
stays the one place that names them. Standard library only.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
OVERLAYS = ("dev", "prod")
POLICY_DIR = DEPLOY / "policy"
MAKE_FRAGMENT = REPO / "mk" / "k8s.mk"
SCHEMA_ROOT = Path(os.environ.get("K8S_SCHEMA_DIR", REPO / ".tools" / "k8s-schemas"))

# Which conftest namespaces (deploy/policy packages) apply to what.
WORKLOAD_RULES = "conveyor.workloads"
PROD_RULES = "conveyor.prod"
REPOSITORY_RULES = "conveyor.repository"


class CheckError(Exception):
    """A check could not run at all (a missing tool is an error, never a skip)."""


@dataclass
class Result:
    name: str
    ok: bool
    output: str

    def __str__(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'} {self.name}\n{self.output.rstrip()}\n"


def tool(name: str) -> str:
    path = os.environ.get(name.upper().replace("-", "_")) or str(REPO / ".tools" / "bin" / name)
    if not Path(path).is_file():
        raise CheckError(f"{name} not found at {path}: run `make k8s-tools` (it installs the pinned version)")
    return path


def make_variable(name: str) -> str:
    """A variable's value as mk/k8s.mk sets it (`NAME ?= value` or `NAME := value`)."""
    match = re.search(rf"^{name}\s*[?:]?=\s*(.+?)\s*(#.*)?$", MAKE_FRAGMENT.read_text(), re.MULTILINE)
    if not match:
        raise CheckError(f"{name} is not set in {MAKE_FRAGMENT}")
    return match.group(1)


def schema_versions() -> list[str]:
    return (os.environ.get("K8S_SCHEMA_VERSIONS") or make_variable("K8S_SCHEMA_VERSIONS")).split()


def run(cmd: list[str], cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)


# ---- render ----------------------------------------------------------------


def render(overlay: Path | str) -> str:
    """kustomize build of an overlay directory (or a name under deploy/overlays)."""
    path = Path(overlay) if Path(overlay).is_dir() else DEPLOY / "overlays" / str(overlay)
    result = run([tool("kustomize"), "build", str(path)])
    if result.returncode != 0:
        raise CheckError(f"kustomize build {path} failed:\n{result.stderr}")
    if not result.stdout.strip():
        raise CheckError(f"kustomize build {path} rendered nothing")
    return result.stdout


def namespace_kustomization(overlay: str) -> Path:
    """An environment's Namespace: a kustomization of its own beside the overlay,
    applied once before it and left alone by `kubectl delete -k` of the overlay."""
    return DEPLOY / "overlays" / overlay / "namespace"


def render_environment(overlay: str) -> str:
    """An environment as `make deploy` applies it: its namespace, then the overlay."""
    return render(namespace_kustomization(overlay)) + "---\n" + render(overlay)


def render_all(out_dir: Path) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {}
    for overlay in OVERLAYS:
        target = out_dir / f"{overlay}.yaml"
        scratch = target.with_suffix(".yaml.tmp")
        scratch.write_text(render_environment(overlay))
        scratch.replace(target)
        files[overlay] = target
    return files


# ---- schemas ---------------------------------------------------------------


def validate_schemas(files: list[Path], versions: list[str] | None = None) -> Result:
    """kubeconform -strict per Kubernetes version; a kind without a schema is an error."""
    versions = versions or schema_versions()
    outputs, ok = [], True
    for version in versions:
        version = version.removeprefix("v")
        if not (SCHEMA_ROOT / f"v{version}-standalone-strict" / ".complete").is_file():
            raise CheckError(
                f"no schemas for Kubernetes {version} under {SCHEMA_ROOT}: run `make k8s-schemas`"
            )
        result = run(
            [
                tool("kubeconform"),
                "-strict",
                "-summary",
                "-kubernetes-version",
                version,
                "-schema-location",
                str(SCHEMA_ROOT),
                *map(str, files),
            ]
        )
        ok = ok and result.returncode == 0
        outputs.append(f"[Kubernetes {version}]\n{result.stdout}{result.stderr}")
    return Result(f"schemas ({', '.join(versions)})", ok, "".join(outputs))


# ---- policy ----------------------------------------------------------------


def conftest(files: list[Path], namespace: str) -> Result:
    if not files:
        raise CheckError(f"nothing to check against {namespace}")
    result = run(
        [
            tool("conftest"),
            "test",
            "--no-color",
            "--policy",
            str(POLICY_DIR),
            "--namespace",
            namespace,
            *map(str, files),
        ]
    )
    return Result(f"policy {namespace}", result.returncode == 0, result.stdout + result.stderr)


def verify_policies() -> Result:
    """The Rego unit tests next to the policies (deploy/policy/*_test.rego)."""
    result = run([tool("conftest"), "verify", "--no-color", "--policy", str(POLICY_DIR)])
    return Result("policy unit tests", result.returncode == 0, result.stdout + result.stderr)


def pod_security(files: list[Path], level: str = "restricted", version: str = "latest") -> Result:
    """The pod templates through k8s.io/pod-security-admission (deploy/tools/psa-check)."""
    result = run([tool("psa-check"), "-level", level, "-version", version, *map(str, files)])
    if result.returncode == 2:
        raise CheckError(f"psa-check could not run:\n{result.stdout}{result.stderr}")
    return Result(
        f"pod security {level}:{version} (k8s.io/pod-security-admission)",
        result.returncode == 0,
        result.stdout,
    )


def tracked_yaml(repo: Path = REPO) -> list[Path]:
    """Every YAML file git tracks (or has staged) in repo."""
    result = run(["git", "ls-files", "--cached", "-z", "--", "*.yaml", "*.yml"], cwd=repo)
    if result.returncode != 0:
        raise CheckError(f"git ls-files failed in {repo}:\n{result.stderr}")
    return [repo / name for name in result.stdout.split("\0") if name and (repo / name).is_file()]


# conftest names the file it could not parse: "..., path: /abs/file.yaml".
UNPARSABLE = re.compile(r"parse configurations: .*, path: (?P<path>\S+)\s*$", re.MULTILINE)
# A line that makes a document a Secret, in a file that is no plain YAML.
SECRET_KIND = re.compile(r"""^\s*kind:\s*["']?Secret["']?\s*(#.*)?$""", re.MULTILINE)


def committed_secrets(repo: Path = REPO) -> Result:
    """The repository rules over every YAML file git tracks.

    A tracked file that is not plain YAML (a template with @PLACEHOLDERS@, say)
    stops conftest. It is not skipped: it is read as text instead, and any
    `kind: Secret` line in it fails the check, since its values cannot be told
    apart from placeholders there. Either way the file is named in the output.
    """
    files = tracked_yaml(repo)
    if not files:
        raise CheckError(f"git tracks no YAML file in {repo}: nothing was scanned")
    notes, ok = [], True
    while True:
        result = conftest(files, REPOSITORY_RULES)
        match = UNPARSABLE.search(result.output) if not result.ok else None
        if not match or Path(match["path"]) not in files:
            break
        path = Path(match["path"])
        files.remove(path)
        if SECRET_KIND.search(path.read_text(errors="replace")):
            ok = False
            notes.append(
                f"FAIL - {path} - not plain YAML, and it declares a Secret: cannot verify it holds no value\n"
            )
        else:
            notes.append(f"note - {path} - not plain YAML; read as text: no Secret in it\n")
        if not files:
            return Result(f"policy {REPOSITORY_RULES}", ok, "".join(notes))
    return Result(result.name, ok and result.ok, "".join(notes) + result.output)


# ---- all -------------------------------------------------------------------


def check_all(out_dir: Path) -> list[Result]:
    files = render_all(out_dir)
    return [
        Result("render", True, "".join(f"{name}: {path}\n" for name, path in files.items())),
        validate_schemas(list(files.values())),
        verify_policies(),
        conftest(list(files.values()), WORKLOAD_RULES),
        pod_security(list(files.values())),
        conftest([files["prod"]], PROD_RULES),
        committed_secrets(),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Offline checks of the Kubernetes manifests.")
    parser.add_argument("command", choices=["all", "render"], help="all checks, or only render the overlays")
    parser.add_argument(
        "--out", type=Path, default=REPO / "build" / "manifests", help="where rendered overlays go"
    )
    args = parser.parse_args(argv)
    try:
        if args.command == "render":
            for name, path in render_all(args.out).items():
                print(f"{name}: {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")
            return 0
        results = check_all(args.out)
    except CheckError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for result in results:
        print(result)
    failed = [r.name for r in results if not r.ok]
    summary = f"k8s checks: {len(results) - len(failed)} of {len(results)} passed"
    print(summary + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
