"""Every rendered object validates against the Kubernetes OpenAPI schemas of
the named versions, offline, strictly, with nothing skipped; and the check
rejects what it must (an unknown field, a wrong type, a kind it has no schema
for, an API version the cluster no longer serves)."""

from __future__ import annotations

import json
import re

import pytest

from tests.deploy import checks, k8s_schemas
from tests.deploy.conftest import container, find, load, write

VERSIONS = checks.schema_versions()


def summary(result: checks.Result) -> list[tuple[int, int, int, int, int]]:
    """(found, valid, invalid, errors, skipped) for each version kubeconform ran."""
    return [
        tuple(map(int, m))
        for m in re.findall(
            r"Summary: (\d+) resources? found .*? "
            r"Valid: (\d+), Invalid: (\d+), Errors: (\d+), Skipped: (\d+)",
            result.output,
        )
    ]


def test_versions_are_named_and_schemas_present():
    assert VERSIONS, "K8S_SCHEMA_VERSIONS is empty"
    for version in VERSIONS:
        assert k8s_schemas.is_complete(checks.SCHEMA_ROOT, version), f"run make k8s-schemas ({version})"


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("overlay", checks.OVERLAYS)
def test_overlay_validates(rendered, overlay, version):
    result = checks.validate_schemas([rendered[overlay]], [version])
    assert result.ok, result.output
    count = len(load(rendered[overlay]))
    # Every object was validated, none skipped.
    assert summary(result) == [(count, count, 0, 0, 0)], result.output


def broken_copy(tmp_path, rendered, change):
    objs = load(rendered["prod"])
    change(objs)
    return write(tmp_path / "broken.yaml", objs)


def test_rejects_an_unknown_field(tmp_path, rendered):
    def misspell(objs):
        api = container(find(objs, "Deployment", "api"), "api")
        api["livenesProbe"] = api.pop("livenessProbe")

    result = checks.validate_schemas([broken_copy(tmp_path, rendered, misspell)])
    assert not result.ok
    assert "livenesProbe" in result.output


def test_rejects_a_field_at_the_wrong_level(tmp_path, rendered):
    def misplace(objs):
        deployment = find(objs, "Deployment", "worker")
        deployment["spec"]["template"]["spec"]["readOnlyRootFilesystem"] = True

    result = checks.validate_schemas([broken_copy(tmp_path, rendered, misplace)])
    assert not result.ok
    assert "readOnlyRootFilesystem" in result.output


def test_rejects_a_wrong_type(tmp_path, rendered):
    def stringify(objs):
        find(objs, "Service", "api")["spec"]["ports"][0]["port"] = "eight thousand"

    result = checks.validate_schemas([broken_copy(tmp_path, rendered, stringify)])
    assert not result.ok
    assert "want integer" in result.output


def test_rejects_a_kind_without_schema(tmp_path, rendered):
    def add_crd_object(objs):
        objs.append(
            {"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "x"}, "spec": {}}
        )

    result = checks.validate_schemas([broken_copy(tmp_path, rendered, add_crd_object)])
    assert not result.ok
    assert "could not find schema for Certificate" in result.output


def test_rejects_a_removed_api_version(tmp_path, rendered):
    def downgrade(objs):
        find(objs, "PodDisruptionBudget", "api")["apiVersion"] = "policy/v1beta1"  # removed in 1.25

    result = checks.validate_schemas([broken_copy(tmp_path, rendered, downgrade)])
    assert not result.ok
    assert "PodDisruptionBudget" in result.output


# ---- the schema generator ----------------------------------------------------


@pytest.mark.parametrize(
    ("group", "version", "kind", "expected"),
    [
        ("", "v1", "Service", "service-v1.json"),
        ("apps", "v1", "Deployment", "deployment-apps-v1.json"),
        ("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicy-networking-v1.json"),
        ("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscaler-autoscaling-v2.json"),
    ],
)
def test_file_names_follow_kubeconform(group, version, kind, expected):
    assert k8s_schemas.file_name(group, version, kind) == expected


def test_generated_schema_is_strict_and_kubernetes_shaped():
    path = k8s_schemas.schema_dir(checks.SCHEMA_ROOT, VERSIONS[0]) / "deployment-apps-v1.json"
    schema = json.loads(path.read_text())
    assert schema["additionalProperties"] is False
    assert schema["properties"]["kind"]["enum"] == ["Deployment"]
    assert schema["properties"]["apiVersion"]["enum"] == ["apps/v1"]
    definitions = schema["definitions"]
    assert definitions["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]["oneOf"] == [
        {"type": "string"},
        {"type": "integer"},
    ]
    assert definitions["io.k8s.apimachinery.pkg.api.resource.Quantity"]["oneOf"] == [
        {"type": "string"},
        {"type": "number"},
    ]
    assert definitions["io.k8s.api.core.v1.Container"]["additionalProperties"] is False


def test_convert_handles_a_self_referencing_kind():
    spec = {
        "definitions": {
            "x.Node": {
                "type": "object",
                "properties": {
                    "kind": {"type": "string"},
                    "apiVersion": {"type": "string"},
                    "child": {"$ref": "#/definitions/x.Node"},
                },
                "x-kubernetes-group-version-kind": [{"group": "example.io", "version": "v1", "kind": "Node"}],
            }
        }
    }
    schema = k8s_schemas.convert(spec)["node-example-v1.json"]
    assert "x.Node" in schema["definitions"]
    assert schema["definitions"]["x.Node"]["additionalProperties"] is False
