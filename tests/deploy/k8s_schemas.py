#!/usr/bin/env python3
"""Generate kubeconform's JSON schemas for one Kubernetes version, offline.

kubeconform normally downloads its schemas from a GitHub repository, which the
project's machines cannot reach. The same schemas can be made from the
OpenAPI (swagger 2.0) document that Kubernetes publishes in its own source
tree, api/openapi-spec/swagger.json, and that source tree is a Go module the
Go module proxy serves (k8s.io/kubernetes@vX.Y.Z). So:

    go mod download -json k8s.io/kubernetes@v1.34.4   ->  module directory
    api/openapi-spec/swagger.json                       ->  one schema per kind

The output follows kubeconform's directory layout, so that
`kubeconform -schema-location DIR -kubernetes-version 1.34.4 -strict` finds
DIR/v1.34.4-standalone-strict/deployment-apps-v1.json and so on.

What the conversion does, and why:
- Each kind gets one self-contained file: its definition at the root and
  every definition it reaches under "definitions" (swagger's
  "#/definitions/..." references then resolve inside the same file; recursive
  types such as JSONSchemaProps need no special case).
- Strict: every object schema that lists its properties gets
  additionalProperties: false, so a misspelt or misplaced field (`livenessprobe`,
  `securityContext` one level too high) is an error, not silently ignored.
- apiVersion and kind are pinned to the kind's own values.
- Kubernetes' two "either" types get their real shape: IntOrString is a
  string or an integer (ports, maxUnavailable), Quantity a string or a number
  (`cpu: 1`), as the API server accepts them.

Standard library only: it runs before any virtualenv exists.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

SPEC_PATH = "api/openapi-spec/swagger.json"
REF_PREFIX = "#/definitions/"
STAMP = ".complete"

INT_OR_STRING = {"oneOf": [{"type": "string"}, {"type": "integer"}]}
QUANTITY = {"oneOf": [{"type": "string"}, {"type": "number"}]}
QUANTITY_NAME = "io.k8s.apimachinery.pkg.api.resource.Quantity"


def normalise_version(version: str) -> str:
    """'1.34.4' or 'v1.34.4' -> 'v1.34.4' (the module version and kubeconform's dir prefix)."""
    version = version.strip()
    if not re.fullmatch(r"v?\d+\.\d+\.\d+", version):
        raise SystemExit(f"not a Kubernetes release version: {version!r} (want e.g. 1.34.4)")
    return version if version.startswith("v") else "v" + version


def schema_dir(out: Path, version: str) -> Path:
    return out / f"{normalise_version(version)}-standalone-strict"


def is_complete(out: Path, version: str) -> bool:
    return (schema_dir(out, version) / STAMP).is_file()


def download_spec(version: str) -> dict:
    """Fetch k8s.io/kubernetes@version through the Go module proxy (cached by Go) and load its spec."""
    env = dict(os.environ, GO111MODULE="on", GOTOOLCHAIN="local")
    # Outside any module, so no go.mod of the project is consulted or changed.
    with tempfile.TemporaryDirectory() as scratch:
        result = subprocess.run(
            ["go", "mod", "download", "-json", f"k8s.io/kubernetes@{version}"],
            cwd=scratch,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
    try:
        info = json.loads(result.stdout)
    except json.JSONDecodeError:
        info = {}
    if result.returncode != 0 or "Dir" not in info:
        raise SystemExit(
            f"go mod download k8s.io/kubernetes@{version} failed:\n{info.get('Error', '')}{result.stderr}"
        )
    spec = Path(info["Dir"]) / SPEC_PATH
    return json.loads(spec.read_text())


def kubernetes_shapes(node):
    """Replace int-or-string fields by their real oneOf shape, recursively."""
    if isinstance(node, dict):
        if node.get("format") == "int-or-string":
            extra = {k: v for k, v in node.items() if k == "description"}
            return {**extra, **INT_OR_STRING}
        return {k: kubernetes_shapes(v) for k, v in node.items()}
    if isinstance(node, list):
        return [kubernetes_shapes(v) for v in node]
    return node


def make_strict(node):
    """additionalProperties: false on every object schema with known properties."""
    if isinstance(node, dict):
        out = {k: make_strict(v) for k, v in node.items()}
        props = out.get("properties")
        if isinstance(props, dict) and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out
    if isinstance(node, list):
        return [make_strict(v) for v in node]
    return node


def references(node, found: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        # Only a string is a reference: JSONSchemaProps has a *property* named "$ref".
        if isinstance(ref, str) and ref.startswith(REF_PREFIX):
            found.add(ref[len(REF_PREFIX) :])
        for value in node.values():
            references(value, found)
    elif isinstance(node, list):
        for value in node:
            references(value, found)


def reachable(definitions: dict, root: str) -> set[str]:
    seen: set[str] = set()
    todo = [root]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        if name not in definitions:
            raise SystemExit(f"swagger.json refers to a missing definition: {name}")
        seen.add(name)
        found: set[str] = set()
        references(definitions[name], found)
        todo.extend(found - seen)
    return seen


def file_name(group: str, version: str, kind: str) -> str:
    """kubeconform's name: kind, then the group's first label (if any), then the version."""
    suffix = f"-{group.split('.')[0].lower()}-{version}" if group else f"-{version}"
    return f"{kind.lower()}{suffix}.json"


def convert(spec: dict) -> dict[str, dict]:
    """Return {file name: schema} for every kind the spec defines."""
    definitions = kubernetes_shapes(copy.deepcopy(spec["definitions"]))
    definitions[QUANTITY_NAME] = {
        "description": "A quantity: a string such as 500m or 1Gi, or a number.",
        **QUANTITY,
    }
    definitions = {name: make_strict(schema) for name, schema in definitions.items()}

    schemas: dict[str, dict] = {}
    for name, definition in definitions.items():
        for gvk in definition.get("x-kubernetes-group-version-kind", []):
            group, version, kind = gvk.get("group", ""), gvk["version"], gvk["kind"]
            api_version = f"{group}/{version}" if group else version
            root = copy.deepcopy(definition)
            props = root.setdefault("properties", {})
            props["apiVersion"] = {**props.get("apiVersion", {}), "type": "string", "enum": [api_version]}
            props["kind"] = {**props.get("kind", {}), "type": "string", "enum": [kind]}
            # apiVersion and kind are what kubeconform picked the schema by; require them anyway.
            root["required"] = sorted({*root.get("required", []), "apiVersion", "kind"})
            needed = reachable(definitions, name)
            referred: set[str] = set()
            for dep in needed:
                references(definitions[dep], referred)
            # The root itself only goes under "definitions" if something refers back to it.
            keep = sorted((needed - {name}) | ({name} & referred))
            if keep:
                root["definitions"] = {dep: definitions[dep] for dep in keep}
            schemas[file_name(group, version, kind)] = root
    return schemas


def generate(version: str, out: Path, force: bool = False) -> Path:
    version = normalise_version(version)
    target = schema_dir(out, version)
    if is_complete(out, version) and not force:
        return target
    spec = download_spec(version)
    schemas = convert(spec)
    out.mkdir(parents=True, exist_ok=True)
    # Write next to the target and rename, so an interrupted run leaves no half directory
    # that a later run would take for complete.
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=out))
    try:
        for file, schema in schemas.items():
            (scratch / file).write_text(json.dumps(schema, separators=(",", ":"), sort_keys=True))
        (scratch / STAMP).write_text(f"k8s.io/kubernetes@{version} {SPEC_PATH}: {len(schemas)} schemas\n")
        if target.exists():
            shutil.rmtree(target)
        scratch.rename(target)
    finally:
        if scratch.exists():
            shutil.rmtree(scratch)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("versions", nargs="+", metavar="VERSION", help="Kubernetes release, e.g. 1.34.4")
    parser.add_argument(
        "--out", type=Path, required=True, help="schema root for kubeconform -schema-location"
    )
    parser.add_argument("--force", action="store_true", help="regenerate even when already complete")
    args = parser.parse_args(argv)
    for version in args.versions:
        if is_complete(args.out, version) and not args.force:
            continue
        target = generate(version, args.out, args.force)
        print(f"k8s schemas {normalise_version(version)}: {target}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
