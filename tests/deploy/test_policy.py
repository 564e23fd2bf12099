"""The policy check (conftest + deploy/policy): the real manifests pass, and
each deliberately broken copy is rejected with the reason."""

from __future__ import annotations

import subprocess

import pytest

from tests.deploy import checks
from tests.deploy.conftest import container, find, load, pod_spec, write


def test_rego_unit_tests_pass():
    result = checks.verify_policies()
    assert result.ok, result.output
    assert " 0 failures" in result.output


@pytest.mark.parametrize("overlay", checks.OVERLAYS)
def test_overlay_passes_workload_rules(rendered, overlay):
    result = checks.conftest([rendered[overlay]], checks.WORKLOAD_RULES)
    assert result.ok, result.output


def test_prod_passes_prod_rules(rendered):
    result = checks.conftest([rendered["prod"]], checks.PROD_RULES)
    assert result.ok, result.output


def test_repository_commits_no_secret():
    files = checks.tracked_yaml()
    assert any(f.name == "kustomization.yaml" for f in files), "the scan found none of the manifests"
    result = checks.committed_secrets()
    assert result.ok, result.output


def test_secrets_env_is_ignored_and_untracked(secrets_env):
    tracked = subprocess.run(
        ["git", "ls-files", "--", "deploy/base/secrets.env"], cwd=checks.REPO, capture_output=True, text=True
    )
    assert tracked.stdout == ""
    ignored = subprocess.run(["git", "check-ignore", "-q", "deploy/base/secrets.env"], cwd=checks.REPO)
    assert ignored.returncode == 0, "deploy/base/secrets.env must be git-ignored"
    assert (checks.DEPLOY / "base" / "secrets.env.example").is_file()


# ---- broken copies -------------------------------------------------------------


def drop(mapping: dict, key: str):
    del mapping[key]


BREAKAGES = {
    "pod runAsNonRoot removed": (
        "Deployment",
        "api",
        lambda o: drop(pod_spec(o)["securityContext"], "runAsNonRoot"),
        "runAsNonRoot",
    ),
    "runs as root": (
        "StatefulSet",
        "redis",
        lambda o: pod_spec(o)["securityContext"].update(runAsUser=0),
        "runAsUser: 0",
    ),
    "privilege escalation allowed": (
        "Deployment",
        "frontend",
        lambda o: container(o, "frontend")["securityContext"].update(allowPrivilegeEscalation=True),
        "allowPrivilegeEscalation",
    ),
    "capabilities kept": (
        "StatefulSet",
        "redis",
        lambda o: drop(container(o, "redis")["securityContext"], "capabilities"),
        "drop ALL",
    ),
    "seccomp unset": (
        "StatefulSet",
        "postgres",
        lambda o: drop(pod_spec(o)["securityContext"], "seccompProfile"),
        "seccompProfile",
    ),
    "privileged": (
        "Deployment",
        "worker",
        lambda o: container(o, "worker")["securityContext"].update(privileged=True),
        "privileged",
    ),
    "host path": (
        "Deployment",
        "api",
        lambda o: pod_spec(o)["volumes"].append({"name": "host", "hostPath": {"path": "/var/run"}}),
        "hostPath",
    ),
    "host network": ("Deployment", "frontend", lambda o: pod_spec(o).update(hostNetwork=True), "hostNetwork"),
    "writable root filesystem": (
        "Deployment",
        "worker",
        lambda o: container(o, "worker")["securityContext"].update(readOnlyRootFilesystem=False),
        "readOnlyRootFilesystem",
    ),
    "no liveness probe": (
        "Deployment",
        "worker",
        lambda o: drop(container(o, "worker"), "livenessProbe"),
        "no livenessProbe",
    ),
    "no readiness probe": (
        "StatefulSet",
        "postgres",
        lambda o: drop(container(o, "postgres"), "readinessProbe"),
        "no readinessProbe",
    ),
    "no limits on the init container": (
        "Deployment",
        "api",
        lambda o: drop(container(o, "migrate", init=True)["resources"], "limits"),
        "limits.cpu",
    ),
    "no memory request": (
        "Deployment",
        "frontend",
        lambda o: drop(container(o, "frontend")["resources"]["requests"], "memory"),
        "requests.memory",
    ),
}


# Conveyor's own rules, stricter than the Pod Security Standards.
CONVEYOR_ONLY = {
    "writable root filesystem",
    "no liveness probe",
    "no readiness probe",
    "no limits on the init container",
    "no memory request",
}


@pytest.mark.parametrize("overlay", checks.OVERLAYS)
@pytest.mark.parametrize("breakage", list(BREAKAGES))
def test_workload_rules_reject(tmp_path, rendered, overlay, breakage):
    kind, name, change, reason = BREAKAGES[breakage]
    objs = load(rendered[overlay])
    change(find(objs, kind, name))
    broken = write(tmp_path / "broken.yaml", objs)
    result = checks.conftest([broken], checks.WORKLOAD_RULES)
    assert not result.ok, result.output
    assert f"{kind}/{name}" in result.output and reason in result.output, result.output
    # The API server's own library agrees on what is a Pod Security violation.
    reference = checks.pod_security([broken])
    if breakage in CONVEYOR_ONLY:
        assert reference.ok, reference.output
    else:
        assert not reference.ok and f"{kind}/{name}" in reference.output, reference.output


@pytest.mark.parametrize("overlay", checks.OVERLAYS)
def test_overlay_passes_the_pod_security_library(rendered, overlay):
    result = checks.pod_security([rendered[overlay]])
    assert result.ok, result.output
    assert "0 forbidden" in result.output


def test_pod_security_library_enforce_version_too(rendered):
    """The namespace pins enforce-version; the pods must pass that version as well."""
    ns = next(o for o in load(rendered["prod"]) if o["kind"] == "Namespace")
    version = ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce-version"]
    assert checks.pod_security(list(rendered.values()), version=version).ok


# More Pod Security controls, each broken on the api pod: the Rego rules and
# the reference library must both reject it.
CONTROLS = {
    "probe host": lambda pod: container_of(pod)["readinessProbe"]["httpGet"].update(host="10.0.0.1"),
    "unsafe sysctl": lambda pod: pod["securityContext"].update(
        sysctls=[{"name": "kernel.msgmax", "value": "1"}]
    ),
    "apparmor unconfined": lambda pod: pod["securityContext"].update(appArmorProfile={"type": "Unconfined"}),
    "selinux user": lambda pod: pod["securityContext"].update(seLinuxOptions={"user": "root"}),
    "proc mount": lambda pod: container_of(pod)["securityContext"].update(procMount="Unmasked"),
    "host port": lambda pod: container_of(pod)["ports"][0].update(hostPort=8000),
    "added capability": lambda pod: container_of(pod)["securityContext"]["capabilities"].update(
        add=["SYS_ADMIN"]
    ),
    "host pid": lambda pod: pod.update(hostPID=True),
    "container allows root": lambda pod: container_of(pod)["securityContext"].update(runAsNonRoot=False),
}


def container_of(pod):
    return next(c for c in pod["containers"] if c["name"] == "api")


@pytest.mark.parametrize("control", list(CONTROLS))
def test_rules_and_library_reject_each_control(tmp_path, rendered, control):
    objs = load(rendered["dev"])
    CONTROLS[control](pod_spec(find(objs, "Deployment", "api")))
    broken = write(tmp_path / "broken.yaml", objs)
    rules = checks.conftest([broken], checks.WORKLOAD_RULES)
    reference = checks.pod_security([broken])
    assert not rules.ok, rules.output
    assert not reference.ok, reference.output
    assert "Deployment/api" in rules.output and "Deployment/api" in reference.output


def test_workload_rules_reject_an_unenforced_namespace(tmp_path, rendered):
    objs = load(rendered["dev"])
    ns = next(o for o in objs if o["kind"] == "Namespace")
    ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] = "baseline"
    result = checks.conftest([write(tmp_path / "broken.yaml", objs)], checks.WORKLOAD_RULES)
    assert not result.ok
    assert "enforce: restricted" in result.output


@pytest.mark.parametrize(
    ("image", "reason"),
    [
        ("ghcr.io/conveyor-project/conveyor-api:latest", "uses latest"),
        ("ghcr.io/conveyor-project/conveyor-api", "has no tag"),
        ("registry.example.com:5000/conveyor-api", "has no tag"),
    ],
)
def test_prod_rules_reject_unversioned_images(tmp_path, rendered, image, reason):
    objs = load(rendered["prod"])
    container(find(objs, "Deployment", "api"), "migrate", init=True)["image"] = image
    result = checks.conftest([write(tmp_path / "broken.yaml", objs)], checks.PROD_RULES)
    assert not result.ok
    assert reason in result.output and '"migrate"' in result.output, result.output


def test_prod_overlay_set_to_latest_fails_end_to_end(deploy_copy, tmp_path, tool):
    """The path CI takes: kustomize edit -> render -> policy."""
    prod = deploy_copy / "overlays" / "prod"
    subprocess.run(
        [
            tool("kustomize"),
            "edit",
            "set",
            "image",
            "conveyor-worker=ghcr.io/conveyor-project/conveyor-worker:latest",
        ],
        cwd=prod,
        check=True,
    )
    rendered = tmp_path / "prod.yaml"
    rendered.write_text(checks.render(prod))
    result = checks.conftest([rendered], checks.PROD_RULES)
    assert not result.ok
    assert "Deployment/worker" in result.output and "latest" in result.output


def test_dev_tags_would_not_pass_prod_rules_untagged(tmp_path, rendered):
    objs = load(rendered["dev"])
    container(find(objs, "Deployment", "frontend"), "frontend")["image"] = "conveyor-frontend"
    result = checks.conftest([write(tmp_path / "dev.yaml", objs)], checks.PROD_RULES)
    assert not result.ok


# ---- committed secrets ---------------------------------------------------------


@pytest.fixture
def repo(tmp_path):
    """A scratch git repository with one harmless committed manifest."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "ok.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ok\ndata:\n  a: b\n"
    )
    subprocess.run(["git", "add", "ok.yaml"], cwd=tmp_path, check=True)
    return tmp_path


def commit(repo, name, text):
    (repo / name).write_text(text)
    subprocess.run(["git", "add", name], cwd=repo, check=True)


def test_committed_secret_scan_passes_a_clean_repository(repo):
    assert checks.committed_secrets(repo).ok


def test_committed_secret_with_data_is_rejected(repo):
    commit(
        repo,
        "secret.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: leaked\ndata:\n  password: aHVudGVyMg==\n",
    )
    result = checks.committed_secrets(repo)
    assert not result.ok
    assert "Secret/leaked" in result.output


def test_committed_secret_in_a_multi_document_file_is_rejected(repo):
    commit(
        repo,
        "app.yml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n---\n"
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: hidden\nstringData:\n  token: abc\n",
    )
    result = checks.committed_secrets(repo)
    assert not result.ok
    assert "Secret/hidden" in result.output


def test_committed_secret_generator_literal_is_rejected(repo):
    commit(
        repo,
        "kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        "secretGenerator:\n  - name: s\n    literals:\n      - password=hunter2\n",
    )
    result = checks.committed_secrets(repo)
    assert not result.ok
    assert "literals" in result.output


def test_untracked_files_are_not_the_scan_s_business(repo):
    # A git-ignored or untracked file (like deploy/base/secrets.env's output) is not committed.
    (repo / "local.yaml").write_text(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: local\ndata:\n  a: Yg==\n"
    )
    assert checks.committed_secrets(repo).ok


def test_a_template_file_is_read_as_text_not_skipped(repo):
    commit(
        repo,
        "template.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  ip: @DNS_IP@\n",
    )
    result = checks.committed_secrets(repo)
    assert result.ok, result.output
    assert "template.yaml - not plain YAML; read as text" in result.output


def test_a_template_declaring_a_secret_is_rejected(repo):
    commit(
        repo,
        "secret.yaml.tmpl.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\ndata:\n  pw: @PASSWORD@\n",
    )
    result = checks.committed_secrets(repo)
    assert not result.ok
    assert "declares a Secret" in result.output


def test_a_repository_without_yaml_is_an_error_not_a_pass(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    with pytest.raises(checks.CheckError):
        checks.committed_secrets(tmp_path)
