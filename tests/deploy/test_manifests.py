"""What the rendered overlays promise beyond what kubernetes-validate, checkov (make lint) and the
cluster's own admission (make e2e) already prove: the whole application in its namespace, selectors
that survive a release, the version label, data that outlives its workloads, no credential in any
rendered object, a Secret made in the cluster with the least rights, and what sets prod apart."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
KUBECTL = str(ROOT / ".venv" / "bin" / "kubectl")
OVERLAYS = {"dev": "conveyor-dev", "prod": "conveyor"}
WORKLOADS = {"Deployment", "StatefulSet"}
# A name that says "credential", in an env var or a ConfigMap key: its value must be a file's path.
CREDENTIAL_NAME = re.compile(r"pass(word|wd)?|secret|token|credential|api[_-]?key|private[_-]?key", re.I)
# user:password@ in a URL (redis://:pw@redis, postgresql://u:pw@db).
URL_USERINFO = re.compile(r"[a-z][a-z0-9+.-]*://[^/@\s:]*:[^/@\s]+@", re.I)
CLUSTER_SCOPED = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "StorageClass",
}


def render(path: Path) -> list[dict]:
    out = subprocess.run([KUBECTL, "kustomize", str(path)], capture_output=True, text=True, check=True).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


@pytest.fixture(scope="module", params=sorted(OVERLAYS))
def overlay(request) -> tuple[str, list[dict]]:
    return request.param, render(ROOT / "deploy" / "overlays" / request.param)


def find(objs: list[dict], kind: str, name: str) -> dict:
    (match,) = [o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name]
    return match


def containers(obj: dict) -> list[dict]:
    spec = obj["spec"]["template"]["spec"]
    return spec.get("initContainers", []) + spec["containers"]


def test_each_overlay_renders_the_whole_application_in_its_namespace(overlay) -> None:
    env, objs = overlay
    names = {(o["kind"], o["metadata"]["name"]) for o in objs}
    for kind, name in [
        *(("Deployment", n) for n in ("api", "worker", "frontend")),
        *(("StatefulSet", n) for n in ("postgres", "redis")),
        *(("Service", n) for n in ("api", "frontend", "postgres", "postgres-rw", "redis")),
        ("NetworkPolicy", "default-deny"),
        ("Ingress", "frontend"),
    ]:
        assert (kind, name) in names, f"{env}: {kind}/{name} missing"
    assert {o["metadata"].get("namespace") for o in objs if o["kind"] not in CLUSTER_SCOPED} == {
        OVERLAYS[env]
    }
    # A Job's immutable pod template would make the next release's apply fail: the only one is the
    # secret bootstrap, on a stock image and gone soon after it ran (it is created afresh next time).
    for job in (o for o in objs if o["kind"] == "Job"):
        assert job["metadata"]["name"] == "secret-bootstrap"
        assert 0 < job["spec"]["ttlSecondsAfterFinished"] <= 300
        assert not [c["image"] for c in containers(job) if "conveyor-" in c["image"]]


def test_selectors_never_change_with_a_release_and_each_service_selects_one_workload(overlay) -> None:
    _, objs = overlay
    pods = []
    for obj in (o for o in objs if o["kind"] in WORKLOADS):
        selector = obj["spec"]["selector"]["matchLabels"]
        assert "app.kubernetes.io/version" not in selector, obj["metadata"]["name"]
        assert selector.items() <= obj["spec"]["template"]["metadata"]["labels"].items()
        pods.append(obj["spec"]["template"]["metadata"]["labels"])
    for svc in (o for o in objs if o["kind"] == "Service"):
        selector = svc["spec"]["selector"]
        assert "app.kubernetes.io/version" not in selector
        assert sum(selector.items() <= labels.items() for labels in pods) == 1, svc["metadata"]["name"]


def test_the_version_label_follows_the_api_image_tag(overlay) -> None:
    _, objs = overlay
    tag = containers(find(objs, "Deployment", "api"))[-1]["image"].rsplit(":", 1)[1]
    for obj in objs:
        name = obj["metadata"]["labels"].get("app.kubernetes.io/name")
        if obj["kind"] in CLUSTER_SCOPED:
            continue
        assert obj["metadata"]["labels"]["app.kubernetes.io/version"] == {"postgres": "17", "redis": "8"}.get(
            name, tag
        ), f"{obj['kind']}/{obj['metadata']['name']}"


def test_the_data_outlives_its_workloads(overlay) -> None:
    _, objs = overlay
    for sts in (o for o in objs if o["kind"] == "StatefulSet"):
        assert sts["spec"]["persistentVolumeClaimRetentionPolicy"] == {
            "whenDeleted": "Retain",
            "whenScaled": "Retain",
        }
        assert [c["metadata"]["name"] for c in sts["spec"]["volumeClaimTemplates"]] == ["data"]


def test_no_rendered_object_carries_a_credential(overlay) -> None:
    assert_no_credential(*overlay)


def assert_no_credential(env: str, objs: list[dict]) -> None:
    # The Secret is made in the cluster (secret-bootstrap) or by a store, never rendered.
    assert [o["metadata"]["name"] for o in objs if o["kind"] == "Secret"] == [], env
    for obj in objs:
        where = f"{env}: {obj['kind']}/{obj['metadata']['name']}"
        if obj["kind"] == "ConfigMap":
            for key, value in (obj.get("data") or {}).items():
                if CREDENTIAL_NAME.search(key):
                    assert key.endswith("_FILE") and value.startswith("/"), f"{where}: {key}"
        if obj["kind"] in WORKLOADS | {"Job"}:
            for c in containers(obj):
                for var in c.get("env", []):
                    # Only from the Secret's files: a secretKeyRef puts it in the environment.
                    assert "secretKeyRef" not in var.get("valueFrom", {}), f"{where}: {var['name']}"
                    if CREDENTIAL_NAME.search(var["name"]) and "value" in var:
                        assert var["value"].startswith("/"), f"{where}: {c['name']}: {var['name']}"
                assert not any("secretRef" in source for source in c.get("envFrom", [])), (
                    f"{where}: {c['name']}"
                )
        assert not URL_USERINFO.search(yaml.safe_dump(obj)), f"{where}: a URL with a password"


def test_the_credential_check_finds_one(overlay) -> None:
    """The check above, on a copy of the render with a password put back in three ways."""
    env, objs = overlay
    config = next(
        o for o in objs if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith("conveyor-config")
    )
    leaks = [
        {**config, "data": {**config["data"], "POSTGRES_PASSWORD": "hunter2"}},
        {**config, "data": {**config["data"], "REDIS_URL": "redis://:hunter2@redis:6379/0"}},
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "conveyor-secrets"},
            "data": {"a": "aGk="},
        },
    ]
    for leak in leaks:
        with pytest.raises(AssertionError):
            assert_no_credential(env, [leak])


def test_the_secret_is_mounted_as_files_from_its_fixed_name(overlay) -> None:
    _, objs = overlay
    for name in ("api", "worker", "postgres", "redis"):
        (obj,) = [o for o in objs if o["kind"] in WORKLOADS and o["metadata"]["name"] == name]
        volumes = {v["name"]: v for v in obj["spec"]["template"]["spec"]["volumes"]}
        assert volumes["secrets"]["secret"]["secretName"] == "conveyor-secrets", name


def test_dev_brings_its_namespace_and_makes_its_secret_with_the_least_rights() -> None:
    objs = render(ROOT / "deploy" / "overlays" / "dev")
    (namespace,) = [o for o in objs if o["kind"] == "Namespace"]
    assert namespace["metadata"]["name"] == "conveyor-dev"
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    # make undeploy deletes everything but what carries this label.
    assert namespace["metadata"]["labels"]["app.kubernetes.io/component"] == "namespace"
    assert [
        o["kind"] for o in objs if o["metadata"]["labels"].get("app.kubernetes.io/component") == "namespace"
    ] == ["Namespace"]
    role = find(objs, "Role", "secret-bootstrap")
    assert sorted(role["rules"], key=str) == sorted(
        [
            {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]},
            {
                "apiGroups": [""],
                "resources": ["secrets"],
                "resourceNames": ["conveyor-secrets"],
                "verbs": ["get"],
            },
        ],
        key=str,
    )
    binding = find(objs, "RoleBinding", "secret-bootstrap")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "secret-bootstrap", "namespace": "conveyor-dev"}
    ]
    assert find(objs, "ServiceAccount", "secret-bootstrap")["automountServiceAccountToken"] is False
    pod = find(objs, "Job", "secret-bootstrap")["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "secret-bootstrap" and pod["automountServiceAccountToken"] is False
    (token,) = [
        s["serviceAccountToken"]
        for v in pod["volumes"]
        for s in v.get("projected", {}).get("sources", [])
        if "serviceAccountToken" in s
    ]
    assert token["expirationSeconds"] <= 3600
    # Every other pod runs without any token.
    for obj in (o for o in objs if o["kind"] in WORKLOADS):
        assert obj["spec"]["template"]["spec"]["automountServiceAccountToken"] is False
        assert "serviceAccountName" not in obj["spec"]["template"]["spec"]


def autoscalers(objs: list[dict]) -> dict[str, int]:
    """Deployments an HPA or a KEDA ScaledObject owns, with their minimum."""
    owned = {
        o["spec"]["scaleTargetRef"]["name"]: o["spec"]["minReplicas"]
        for o in objs
        if o["kind"] == "HorizontalPodAutoscaler"
    }
    owned |= {
        o["spec"]["scaleTargetRef"]["name"]: o["spec"]["minReplicaCount"]
        for o in objs
        if o["kind"] == "ScaledObject"
    }
    return owned


def test_dev_runs_the_locally_built_images_one_of_each() -> None:
    objs = render(ROOT / "deploy" / "overlays" / "dev")
    assert autoscalers(objs) == {"api": 1, "worker": 1}
    for name in ("api", "worker", "frontend"):
        deployment = find(objs, "Deployment", name)
        assert deployment["spec"].get("replicas", 1) == 1
        assert ("replicas" in deployment["spec"]) == (name == "frontend")
        assert {(c["image"], c["imagePullPolicy"]) for c in containers(deployment)} == {
            (f"conveyor-{name}:dev", "IfNotPresent")
        }
    assert find(objs, "Service", "frontend")["spec"]["ports"][0]["nodePort"] == 30080


def test_prod_runs_released_versions_scaled_spread_and_on_one_storage_class() -> None:
    objs = render(ROOT / "deploy" / "overlays" / "prod")
    autoscaled = autoscalers(objs)
    assert autoscaled == {"api": 3, "worker": 2}
    # KEDA scales the workers; a second, CPU HPA on them would fight it.
    assert [o["spec"]["scaleTargetRef"]["name"] for o in objs if o["kind"] == "HorizontalPodAutoscaler"] == [
        "api"
    ]
    for name in ("api", "worker", "frontend"):
        deployment = find(objs, "Deployment", name)
        for c in containers(deployment):
            assert re.fullmatch(
                rf"ghcr\.io/[a-z0-9-]+/conveyor-{name}:\d+\.\d+\.\d+(@sha256:[0-9a-f]{{64}})?", c["image"]
            )
        # An autoscaler owns the count: a replicas field would reset it at every apply.
        assert ("replicas" in deployment["spec"]) == (name not in autoscaled)
        pdb = find(objs, "PodDisruptionBudget", name)
        assert pdb["spec"]["selector"] == deployment["spec"]["selector"]
        spread = deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]
        assert {c["topologyKey"] for c in spread} == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}
    classes = {
        claim["spec"].get("storageClassName")
        for o in objs
        if o["kind"] == "StatefulSet"
        for claim in o["spec"]["volumeClaimTemplates"]
    }
    assert len(classes) == 1 and None not in classes
    # A deploy identity bound to a namespaced Role must be able to apply all of it.
    assert not [o["kind"] for o in objs if o["kind"] in CLUSTER_SCOPED]
