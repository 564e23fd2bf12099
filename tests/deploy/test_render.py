"""Both overlays render, and what they render is what the design promises:
labels and selectors, probes, rollout settings, migrations, secrets as files,
and the differences between dev and prod."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest
import yaml

from tests.deploy import checks
from tests.deploy.conftest import container, find, load, pod_spec

WORKLOADS = {"Deployment", "StatefulSet"}
APP_DEPLOYMENTS = ("api", "worker", "frontend")
COMMON_LABELS = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/component",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/version",
)
# Label values: at most 63 characters, alphanumerics with - _ . inside.
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def kinds(objs):
    return sorted({o["kind"] for o in objs})


@pytest.mark.parametrize("overlay", checks.OVERLAYS)
def test_overlay_renders_the_whole_application(objects, overlay):
    objs = objects[overlay]
    names = {(o["kind"], o["metadata"]["name"]) for o in objs}
    for expected in [
        ("Namespace", "conveyor-dev" if overlay == "dev" else "conveyor"),
        ("Deployment", "api"),
        ("Deployment", "worker"),
        ("Deployment", "frontend"),
        ("StatefulSet", "postgres"),
        ("StatefulSet", "redis"),
        ("Service", "api"),
        ("Service", "frontend"),
        ("Service", "postgres"),
        ("Service", "redis"),
        ("Secret", "conveyor-secrets"),
        ("NetworkPolicy", "default-deny"),
        ("NetworkPolicy", "allow-dns-egress"),
        ("Ingress", "frontend"),
    ]:
        assert expected in names, f"{overlay}: {expected} missing"
    # No Job: its immutable pod template would break `kubectl apply` at the next release.
    assert "Job" not in kinds(objs)
    # The worker has no Service (nothing calls it).
    assert ("Service", "worker") not in names


@pytest.mark.parametrize("overlay", checks.OVERLAYS)
def test_everything_lives_in_the_overlay_namespace(objects, overlay):
    namespace = "conveyor-dev" if overlay == "dev" else "conveyor"
    for obj in objects[overlay]:
        if obj["kind"] == "Namespace":
            assert obj["metadata"]["name"] == namespace
        else:
            assert obj["metadata"].get("namespace") == namespace, f"{obj['kind']}/{obj['metadata']['name']}"


@pytest.mark.parametrize("overlay", checks.OVERLAYS)
def test_namespace_enforces_restricted_pod_security(objects, overlay):
    ns = next(o for o in objects[overlay] if o["kind"] == "Namespace")
    labels = ns["metadata"]["labels"]
    for mode in ("enforce", "audit", "warn"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"


@pytest.mark.parametrize("overlay", checks.OVERLAYS)
def test_common_labels_on_every_object(objects, overlay):
    for obj in objects[overlay]:
        labels = obj["metadata"].get("labels", {})
        # The namespace outlives every release: it carries no version.
        expected = [k for k in COMMON_LABELS if obj["kind"] != "Namespace" or not k.endswith("/version")]
        for key in expected:
            assert key in labels, f"{obj['kind']}/{obj['metadata']['name']} lacks {key}"
        assert labels["app.kubernetes.io/part-of"] == "conveyor"
        for key, value in labels.items():
            assert LABEL_VALUE.match(str(value)) and len(str(value)) <= 63, f"invalid label {key}={value!r}"


@pytest.mark.parametrize("overlay", checks.OVERLAYS)
def test_selectors_are_stable_and_match_their_pods(objects, overlay):
    objs = objects[overlay]
    for obj in objs:
        if obj["kind"] in WORKLOADS:
            selector = obj["spec"]["selector"]["matchLabels"]
            template_labels = obj["spec"]["template"]["metadata"]["labels"]
            # A selector is immutable: nothing that changes per release may be in it.
            assert "app.kubernetes.io/version" not in selector
            assert selector.items() <= template_labels.items()
            for key in COMMON_LABELS:
                assert key in template_labels, f"{obj['metadata']['name']} pods lack {key}"
        if obj["kind"] == "StatefulSet":
            # volumeClaimTemplates are immutable too: no per-release label there.
            for claim in obj["spec"]["volumeClaimTemplates"]:
                version = claim["metadata"].get("labels", {}).get("app.kubernetes.io/version")
                assert version == obj["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/version"]
                assert version in {"17", "8"}
    pods = [o["spec"]["template"]["metadata"]["labels"] for o in objs if o["kind"] in WORKLOADS]
    for svc in (o for o in objs if o["kind"] == "Service"):
        selector = svc["spec"]["selector"]
        assert "app.kubernetes.io/version" not in selector
        assert sum(selector.items() <= p.items() for p in pods) == 1, f"Service/{svc['metadata']['name']}"


@pytest.mark.parametrize("overlay", checks.OVERLAYS)
def test_version_label_follows_the_image_tag(objects, overlay):
    objs = objects[overlay]
    tag = container(find(objs, "Deployment", "api"), "api")["image"].rsplit(":", 1)[1]
    for obj in (o for o in objs if o["kind"] != "Namespace"):
        name = obj["metadata"]["labels"]["app.kubernetes.io/name"]
        expected = {"postgres": "17", "redis": "8"}.get(name, tag)
        assert obj["metadata"]["labels"]["app.kubernetes.io/version"] == expected, obj["metadata"]["name"]


def test_version_label_files_are_the_same_in_both_overlays():
    dev, prod = (checks.DEPLOY / "overlays" / o / "version-label.yaml" for o in ("dev", "prod"))
    assert dev.read_text() == prod.read_text()


def test_release_pinned_by_tag_and_digest_gets_a_valid_version(deploy_copy, tool):
    """What the release pipeline does: kustomize edit set image NAME=REGISTRY/NAME:VERSION@DIGEST."""
    prod = deploy_copy / "overlays" / "prod"
    digest = "sha256:" + "0123456789abcdef" * 4
    for component in APP_DEPLOYMENTS:
        subprocess.run(
            [
                tool("kustomize"),
                "edit",
                "set",
                "image",
                f"conveyor-{component}=ghcr.io/acme/conveyor-{component}:1.4.2@{digest}",
            ],
            cwd=prod,
            check=True,
        )
    objs = list(yaml.safe_load_all(checks.render(prod)))
    api = find(objs, "Deployment", "api")
    assert container(api, "api")["image"] == f"ghcr.io/acme/conveyor-api:1.4.2@{digest}"
    assert container(api, "migrate", init=True)["image"] == container(api, "api")["image"]
    assert api["metadata"]["labels"]["app.kubernetes.io/version"] == "1.4.2"
    assert api["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/version"] == "1.4.2"


@pytest.mark.parametrize("overlay", checks.OVERLAYS)
def test_kubectl_apply_k_renders_the_same(rendered, overlay):
    """CI and the docs use `kubectl apply -k`, i.e. kubectl's built-in kustomize."""
    built = str(checks.REPO / ".tools" / "bin" / "kubectl")
    candidates = [os.environ.get("KUBECTL"), shutil.which("kubectl"), built]
    kubectl = next((c for c in candidates if c and os.path.isfile(c)), None)
    if kubectl is None:
        pytest.skip("no kubectl on PATH or in .tools/bin (make kubectl-install builds one)")
    theirs = []
    for path in (checks.namespace_kustomization(overlay), checks.DEPLOY / "overlays" / overlay):
        result = subprocess.run(
            [kubectl, "kustomize", str(path)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        theirs += [yaml.safe_dump(o, sort_keys=True) for o in yaml.safe_load_all(result.stdout) if o]
    ours = sorted(yaml.safe_dump(o, sort_keys=True) for o in load(rendered[overlay]))
    assert ours == sorted(theirs)


# Kinds that live outside any namespace (the ones Kubernetes has; an overlay
# must render none of them).
CLUSTER_SCOPED = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "StorageClass",
    "PersistentVolume",
    "PriorityClass",
    "IngressClass",
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
}


@pytest.mark.parametrize("overlay", checks.OVERLAYS)
def test_the_overlay_owns_no_namespace_so_delete_keeps_the_data(overlay):
    """`kubectl delete -k deploy/overlays/<env>` deletes what the overlay renders.
    Were the Namespace among it, its PersistentVolumeClaims (the data) would go
    too; and a deploy identity bound to a namespaced Role could not apply it."""
    objs = [o for o in yaml.safe_load_all(checks.render(overlay)) if o]
    assert [o for o in objs if o["kind"] in CLUSTER_SCOPED] == []
    namespace = [o for o in yaml.safe_load_all(checks.render(checks.namespace_kustomization(overlay))) if o]
    assert [o["kind"] for o in namespace] == ["Namespace"]
    assert {o["metadata"]["namespace"] for o in objs} == {namespace[0]["metadata"]["name"]}


@pytest.mark.parametrize("overlay", checks.OVERLAYS)
def test_statefulsets_keep_their_claims(objects, overlay):
    """The claims outlive their StatefulSet, deleted or scaled down (the API's
    default, written out so nobody changes it by accident)."""
    for sts in (o for o in objects[overlay] if o["kind"] == "StatefulSet"):
        policy = sts["spec"].get("persistentVolumeClaimRetentionPolicy")
        assert policy == {"whenDeleted": "Retain", "whenScaled": "Retain"}, sts["metadata"]["name"]


# ---- workloads ---------------------------------------------------------------


@pytest.mark.parametrize("overlay", checks.OVERLAYS)
def test_probes_hit_the_real_health_endpoints(objects, overlay):
    objs = objects[overlay]
    api = container(find(objs, "Deployment", "api"), "api")
    assert api["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert api["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert api["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    worker = container(find(objs, "Deployment", "worker"), "worker")
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert worker[probe]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert worker["ports"][0]["containerPort"] == 9000
    frontend = container(find(objs, "Deployment", "frontend"), "frontend")
    for probe in ("livenessProbe", "readinessProbe"):
        assert frontend[probe]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert frontend["ports"][0]["containerPort"] == 8080
    postgres = container(find(objs, "StatefulSet", "postgres"), "postgres")
    redis = container(find(objs, "StatefulSet", "redis"), "redis")
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert "pg_isready" in " ".join(postgres[probe]["exec"]["command"])
        assert "redis-cli" in " ".join(redis[probe]["exec"]["command"])
        assert "ping" in " ".join(redis[probe]["exec"]["command"])


@pytest.mark.parametrize("overlay", checks.OVERLAYS)
def test_rollouts_keep_capacity_and_drain(objects, overlay):
    objs = objects[overlay]
    for name in APP_DEPLOYMENTS:
        deployment = find(objs, "Deployment", name)
        strategy = deployment["spec"]["strategy"]
        assert strategy["type"] == "RollingUpdate"
        assert strategy["rollingUpdate"]["maxUnavailable"] == 0
    for name in ("api", "frontend"):
        pod = pod_spec(find(objs, "Deployment", name))
        assert "sleep 5" in " ".join(pod["containers"][0]["lifecycle"]["preStop"]["exec"]["command"])
        assert pod["terminationGracePeriodSeconds"] >= 15
    # A 60 s sleep job must be able to finish (or be handed back) after SIGTERM.
    assert pod_spec(find(objs, "Deployment", "worker"))["terminationGracePeriodSeconds"] >= 70


@pytest.mark.parametrize("overlay", checks.OVERLAYS)
def test_migrations_run_before_api_and_worker_start(objects, overlay):
    objs = objects[overlay]
    for name in ("api", "worker"):
        deployment = find(objs, "Deployment", name)
        migrate = container(deployment, "migrate", init=True)
        assert migrate["command"][0] == "conveyor-migrate"
        # Same image (and tag) as the code that expects the schema.
        assert migrate["image"] == container(deployment, name)["image"]
        assert migrate["envFrom"] == container(deployment, name)["envFrom"]


@pytest.mark.parametrize("overlay", checks.OVERLAYS)
def test_pods_use_the_contract_uids(objects, overlay):
    expected = {"api": 10001, "worker": 10001, "frontend": 101, "postgres": 70, "redis": 999}
    for obj in objects[overlay]:
        if obj["kind"] in WORKLOADS:
            security = pod_spec(obj)["securityContext"]
            uid = expected[obj["metadata"]["name"]]
            assert (security["runAsUser"], security["runAsGroup"], security["fsGroup"]) == (uid, uid, uid)
            volumes = {v["name"] for v in pod_spec(obj).get("volumes", []) if "emptyDir" in v}
            mounts = {m["mountPath"] for c in pod_spec(obj)["containers"] for m in c.get("volumeMounts", [])}
            if obj["metadata"]["name"] != "redis":
                assert "tmp" in volumes and "/tmp" in mounts, obj["metadata"]["name"]


@pytest.mark.parametrize("overlay", checks.OVERLAYS)
def test_stateful_services_keep_their_data(objects, overlay):
    objs = objects[overlay]
    postgres = find(objs, "StatefulSet", "postgres")
    env = {e["name"]: e for e in container(postgres, "postgres")["env"]}
    data_mount = next(m for m in container(postgres, "postgres")["volumeMounts"] if m["name"] == "data")
    # PGDATA is a subdirectory of the volume (its root may hold lost+found).
    assert env["PGDATA"]["value"].startswith(data_mount["mountPath"] + "/")
    assert "/var/run/postgresql" in {m["mountPath"] for m in container(postgres, "postgres")["volumeMounts"]}
    assert find(objs, "Service", "postgres")["spec"]["clusterIP"] == "None"
    redis = find(objs, "StatefulSet", "redis")
    assert {m["mountPath"] for m in container(redis, "redis")["volumeMounts"] if m["name"] == "data"} == {
        "/data"
    }
    for sts in (postgres, redis):
        assert [c["metadata"]["name"] for c in sts["spec"]["volumeClaimTemplates"]] == ["data"]
        assert sts["spec"]["persistentVolumeClaimRetentionPolicy"] == {
            "whenDeleted": "Retain",
            "whenScaled": "Retain",
        }
    conf = (checks.DEPLOY / "base" / "redis" / "redis.conf").read_text()
    assert re.search(r"^appendonly yes$", conf, re.MULTILINE)
    assert re.search(r"^dir /data$", conf, re.MULTILINE)


@pytest.mark.parametrize("overlay", checks.OVERLAYS)
def test_secrets_are_files_and_never_in_plain_sight(objects, rendered, overlay, secrets_env):
    objs = objects[overlay]
    secret = find(objs, "Secret", "conveyor-secrets")
    assert set(secret["data"]) == {"postgres-password", "redis-password"}
    config = next(
        o for o in objs if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith("conveyor-config-")
    )
    assert config["data"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/conveyor/postgres-password"
    assert config["data"]["REDIS_PASSWORD_FILE"] == "/run/secrets/conveyor/redis-password"
    for obj in objs:
        if obj["kind"] not in WORKLOADS:
            continue
        volumes = {v["name"]: v for v in pod_spec(obj)["volumes"]}
        if obj["metadata"]["name"] == "frontend":
            # nginx needs no password: no Secret in its pod at all.
            assert not any("secret" in v for v in volumes.values())
            continue
        assert volumes["secrets"]["secret"]["secretName"] == "conveyor-secrets"
        for c in pod_spec(obj)["containers"] + pod_spec(obj).get("initContainers", []):
            mount = next(m for m in c["volumeMounts"] if m["name"] == "secrets")
            assert mount == {"name": "secrets", "mountPath": "/run/secrets/conveyor", "readOnly": True}
            # No password through an environment variable.
            for env in c.get("env", []):
                assert "secretKeyRef" not in env.get("valueFrom", {}), f"{c['name']}: {env['name']}"
    # The values themselves appear in the Secret only (base64), never in a command line or config.
    text = rendered[overlay].read_text()
    for line in secrets_env.read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            assert line.split("=", 1)[1] not in text


# ---- dev and prod ------------------------------------------------------------


def test_dev_is_small_local_and_reachable(objects):
    objs = objects["dev"]
    for name in APP_DEPLOYMENTS:
        deployment = find(objs, "Deployment", name)
        assert deployment["spec"]["replicas"] == 1
        for c in pod_spec(deployment)["containers"] + pod_spec(deployment).get("initContainers", []):
            assert c["image"] == f"conveyor-{name}:dev"
            assert c["imagePullPolicy"] == "IfNotPresent"
    for obj in objs:
        if obj["kind"] == "StatefulSet":
            assert obj["spec"]["replicas"] == 1
            # The cluster's default StorageClass.
            assert "storageClassName" not in obj["spec"]["volumeClaimTemplates"][0]["spec"]
    service = find(objs, "Service", "frontend")
    assert service["spec"]["type"] == "NodePort"
    assert service["spec"]["ports"][0]["nodePort"] == 30080
    rule = find(objs, "Ingress", "frontend")["spec"]["rules"][0]
    assert rule["host"].endswith(".nip.io")
    assert rule["http"]["paths"][0]["backend"]["service"]["name"] == "frontend"
    assert not any(o["kind"] in {"HorizontalPodAutoscaler", "PodDisruptionBudget"} for o in objs)


def test_prod_is_versioned_scaled_spread_and_encrypted(objects):
    objs = objects["prod"]
    for name in APP_DEPLOYMENTS:
        deployment = find(objs, "Deployment", name)
        image = container(deployment, name)["image"]
        assert re.fullmatch(rf"ghcr\.io/[a-z0-9-]+/conveyor-{name}:\d+\.\d+\.\d+", image), image
        constraints = pod_spec(deployment)["topologySpreadConstraints"]
        assert {c["topologyKey"] for c in constraints} == {
            "kubernetes.io/hostname",
            "topology.kubernetes.io/zone",
        }
        for c in constraints:
            assert (
                c["labelSelector"]["matchLabels"].items()
                <= deployment["spec"]["selector"]["matchLabels"].items()
            )
        pdb = find(objs, "PodDisruptionBudget", name)
        assert pdb["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    hpas = {
        o["spec"]["scaleTargetRef"]["name"]: o["spec"] for o in objs if o["kind"] == "HorizontalPodAutoscaler"
    }
    assert set(hpas) == {"api", "worker"}
    assert hpas["api"]["minReplicas"] == 3
    for name, spec in hpas.items():
        assert spec["metrics"][0]["resource"]["name"] == "cpu"
        # The autoscaler owns the count: a replicas field would reset it at every apply.
        assert "replicas" not in find(objs, "Deployment", name)["spec"]
    assert find(objs, "Deployment", "frontend")["spec"]["replicas"] >= 2
    ingress = find(objs, "Ingress", "frontend")
    assert "cert-manager.io/cluster-issuer" in ingress["metadata"]["annotations"]
    assert ingress["spec"]["tls"][0]["hosts"] == [ingress["spec"]["rules"][0]["host"]]
    classes = {
        o["spec"]["volumeClaimTemplates"][0]["spec"].get("storageClassName")
        for o in objs
        if o["kind"] == "StatefulSet"
    }
    assert len(classes) == 1 and None not in classes


def test_prod_is_larger_than_dev(objects):
    def requests(overlay, kind, name):
        return container(find(objects[overlay], kind, name), name)["resources"]["requests"]

    def millicores(value):
        return int(value[:-1]) if str(value).endswith("m") else int(float(value) * 1000)

    for kind, name in [("Deployment", "api"), ("Deployment", "worker"), ("StatefulSet", "postgres")]:
        assert millicores(requests("prod", kind, name)["cpu"]) > millicores(
            requests("dev", kind, name)["cpu"]
        )
