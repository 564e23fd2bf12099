"""The release workflow's deploy job, rehearsed on the cluster: the `run:` blocks of its steps,
read from .github/workflows/release.yml and run as GitHub would (bash -e, the step's env, the
`if:` conditions), against the dev overlay, while a client keeps sending requests.

Three releases: a good one (every rollout completes, the smoke test passes); one whose worker
starts and passes its health checks but counts words wrong (the smoke test fails, the job rolls
back); one whose api never becomes Ready (the rollout times out, the job rolls back). Each
failure must end with the previous release serving and no request of the client failed.

Only the steps that need GitHub are replaced: the kubeconfig is the current context, and
instead of set-images.sh (local images have no registry
digest) the rehearsal writes the same release Component with local tags into a test-only
overlay, build/rehearsal, which wraps deploy/overlays/dev the way prod wraps its release. The
scripts then run unchanged with OVERLAY=build/rehearsal.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from demo.conveyor import Conveyor
from demo.kube import DEPLOY_TIMEOUT, KUBECTL, OVERLAY, ROOT, Cluster, component, load_images, table, wait_for
from demo.traffic import Load

pytestmark = pytest.mark.cluster

WORKFLOW = ROOT / ".github" / "workflows" / "release.yml"
REHEARSAL = ROOT / "build" / "rehearsal"
COMPONENTS = ("api", "worker", "frontend")
# The deploy job's steps, in order: run as they are, or replaced by the rehearsal (and why).
RUN = [
    "Record the current revisions",
    "kubectl apply -k",
    "Wait for every rollout",
    "Smoke test through the public URL",
    "State of the failed release",
    "Roll back",
]
REPLACED = {
    "Kubeconfig": "the current kubeconfig context",
    "Pin the prod overlay to the pushed digests": "build/rehearsal/release with local tags",
    "Forget the kubeconfig": "nothing to forget",
}
ON_FAILURE = "failure() && steps.snapshot.outcome == 'success'"
# Short, so the release that never gets Ready costs two minutes, not five.
ROLLOUT_TIMEOUT = os.environ.get("E2E_ROLLOUT_TIMEOUT", "120s")

BROKEN_WORDCOUNT = '''"""Starts, is healthy, counts words wrong: a release the smoke test stops."""
from conveyor_core.tasks import Text, task


@task
def wordcount(text: Text) -> dict:
    return {"words": 0, "chars": len(text), "top": []}
'''


@dataclass
class Step:
    name: str
    outcome: str  # success, failure, skipped
    seconds: float
    output: str


@dataclass
class Release:
    version: str
    what: str
    steps: list[Step] = field(default_factory=list)
    requests: int = 0
    failures: list[str] = field(default_factory=list)
    serving: dict[str, str] = field(default_factory=dict)
    smoke_after: str = ""

    def step(self, name: str) -> Step:
        return next(s for s in self.steps if s.name == name)


def deploy_steps() -> list[dict]:
    steps = yaml.safe_load(WORKFLOW.read_text())["jobs"]["deploy"]["steps"]
    named = [s["name"] for s in steps if "name" in s]
    # A step added to the workflow must be rehearsed or replaced here, on purpose.
    assert named == [*REPLACED][:2] + RUN + [*REPLACED][2:], named
    return [s for s in steps if s.get("name") in RUN]


def substitute(value: str, context: dict[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        assert match.group(1) in context, f"the rehearsal has no value for ${{{{ {match.group(1)} }}}}"
        return context[match.group(1)]

    return re.sub(r"\$\{\{\s*([^}]+?)\s*\}\}", one, str(value))


def run_deploy_job(version: str, url: str, runner_temp: Path) -> list[Step]:
    """The deploy job's steps, with GitHub's semantics: a failed step skips the plain ones after
    it and runs those marked for failure; a step's outcome is its shell's exit status."""
    env = {
        **os.environ,
        "PATH": f"{Path(KUBECTL).parent}{os.pathsep}{os.environ['PATH']}",
        "KUBECTL": KUBECTL,
        "OVERLAY": str(REHEARSAL.relative_to(ROOT)),
        "RUNNER_TEMP": str(runner_temp),
        "GITHUB_REF_NAME": f"v0.0.0-{version}",
        "ROLLOUT_TIMEOUT": ROLLOUT_TIMEOUT,
    }
    context = {"vars.PUBLIC_URL": url}
    outcomes: dict[str, str] = {}
    failed = False
    steps = []
    for step in deploy_steps():
        condition = step.get("if")
        assert condition in (None, ON_FAILURE), f"{step['name']}: the rehearsal does not know if: {condition}"
        wanted = (not failed) if condition is None else (failed and outcomes.get("snapshot") == "success")
        if not wanted:
            steps.append(Step(step["name"], "skipped", 0.0, ""))
            continue
        start = time.monotonic()
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
            cwd=ROOT,
            env={**env, **{k: substitute(v, context) for k, v in step.get("env", {}).items()}},
            capture_output=True,
            text=True,
            timeout=1200,
            check=False,
        )
        outcome = "success" if done.returncode == 0 else "failure"
        failed = failed or outcome == "failure"
        if "id" in step:
            outcomes[step["id"]] = outcome
        steps.append(Step(step["name"], outcome, time.monotonic() - start, done.stdout + done.stderr))
    return steps


def write_release(tags: dict[str, str]) -> None:
    """What set-images.sh writes into the prod overlay, with local tags for a digest."""
    (REHEARSAL / "release").mkdir(parents=True, exist_ok=True)
    (REHEARSAL / "kustomization.yaml").write_text(
        "# Written by tests/e2e/test_release.py: the dev overlay with a release component, like prod.\n"
        + yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": [os.path.relpath(OVERLAY, REHEARSAL)],
                "components": [
                    "release",
                    os.path.relpath(ROOT / "deploy/components/version-label", REHEARSAL),
                ],
            },
            sort_keys=False,
        )
    )
    images = [{"name": f"conveyor-{c}", "newName": f"conveyor-{c}", "newTag": tags[c]} for c in COMPONENTS]
    (REHEARSAL / "release" / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {"apiVersion": "kustomize.config.k8s.io/v1alpha1", "kind": "Component", "images": images},
            sort_keys=False,
        )
    )


def build(image: str, base: str, dockerfile: str, files: dict[str, str]) -> None:
    with tempfile.TemporaryDirectory() as context:
        for name, text in {"Dockerfile": dockerfile, **files}.items():
            Path(context, name).write_text(text)
        subprocess.run(["docker", "build", "-q", "-t", image, context], check=True, capture_output=True)


def serving(cluster: Cluster) -> dict[str, str]:
    """component -> the tag every one of its pods runs (once the Deployment has settled)."""
    out = {}
    for name in COMPONENTS:
        wait_for(lambda n=name: cluster.rollout_done(n), 180, 1, f"{name} to settle")
        tags = {p.spec.containers[0].image.rsplit(":", 1)[1] for p in cluster.pods(component(name))}
        out[name] = ",".join(sorted(tags))
    return out


def smoke(url: str) -> str:
    done = subprocess.run(
        ["python3", ".github/scripts/smoke.py", "--timeout", "60", url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    return "passed" if done.returncode == 0 else f"FAILED: {done.stderr.strip().splitlines()[-1]}"


@pytest.fixture(scope="module")
def releases(cluster: Cluster, running: None):
    """Three images per release, built or tagged from the dev ones and loaded into the cluster."""
    dev = {c: f"conveyor-{c}:dev" for c in COMPONENTS}
    plan = {
        "rehearsal-1": ("good images", {}),
        "rehearsal-2": ("a worker that fails the smoke test", {"worker": "broken"}),
        "rehearsal-3": ("an api that never gets Ready", {"api": "never-ready"}),
    }
    images = []
    for version, (_, special) in plan.items():
        for c in COMPONENTS:
            image = f"conveyor-{c}:{version}"
            if special.get(c) == "broken":
                build(
                    image,
                    dev[c],
                    f"FROM {dev[c]}\nCOPY rehearsal_wordcount.py /opt/rehearsal/\n"
                    "ENV PYTHONPATH=/opt/rehearsal TASK_MODULES=rehearsal_wordcount\n",
                    {"rehearsal_wordcount.py": BROKEN_WORDCOUNT},
                )
            elif special.get(c) == "never-ready":
                build(image, dev[c], f'FROM {dev[c]}\nCMD ["sleep", "infinity"]\n', {})
            else:
                subprocess.run(["docker", "tag", dev[c], image], check=True)
            images.append(image)
    start = time.monotonic()
    load_images(*images)
    loaded_s = time.monotonic() - start
    yield {v: what for v, (what, _) in plan.items()}, loaded_s
    # The dev overlay as the other tests leave it.
    shutil.rmtree(REHEARSAL, ignore_errors=True)
    cluster.apply()
    cluster.wait_ready(DEPLOY_TIMEOUT)


def test_release_rehearsal(cluster: Cluster, releases, report, tmp_path: Path) -> None:
    plan, loaded_s = releases
    results: list[Release] = []
    with cluster.frontend() as url:
        Conveyor(url).wait_reachable()
        for version, what in plan.items():
            release = Release(version, what)
            write_release(dict.fromkeys(COMPONENTS, version))
            runner_temp = tmp_path / version
            runner_temp.mkdir()
            with Load(url, threads=2) as load:
                time.sleep(2)  # traffic flows before the release starts
                release.steps = run_deploy_job(version, url, runner_temp)
                release.serving = serving(cluster)
                time.sleep(3)  # and keeps flowing after it is over
            release.requests, release.failures = load.requests, load.failures
            release.smoke_after = smoke(url)
            results.append(release)

    rows = []
    for r in results:
        outcome = {s.name: s.outcome for s in r.steps}
        rollback = r.step("Roll back")
        rows.append(
            [
                r.version,
                r.what,
                outcome["Wait for every rollout"],
                outcome["Smoke test through the public URL"],
                f"{rollback.seconds:.1f} s" if rollback.outcome != "skipped" else "-",
                ",".join(sorted(set(r.serving.values()))),
                r.smoke_after,
                f"{r.requests}/{len(r.failures)}",
            ]
        )
    header = [
        "release",
        "what",
        "rollouts",
        "smoke",
        "rollback",
        "serving after",
        "smoke after",
        "req/failed",
    ]
    report(
        "The release workflow's deploy job, rehearsed (release.yml's steps, OVERLAY=build/rehearsal)",
        f"images built, tagged and loaded in {loaded_s:.1f} s; ROLLOUT_TIMEOUT {ROLLOUT_TIMEOUT}\n"
        + table(header, rows)
        + "".join(f"\n  {r.version} failed request: {f}" for r in results for f in r.failures[:5]),
    )

    good, bad_smoke, never_ready = results
    steps = {r.version: {s.name: s for s in r.steps} for r in results}
    # The good release: rollouts, smoke, no rollback, and it serves.
    assert [s.outcome for s in good.steps] == ["success"] * 4 + ["skipped"] * 2, steps[good.version]
    assert set(good.serving.values()) == {good.version}
    # The release the smoke test stops: it rolled out, the smoke failed, the rollback ran.
    assert [s.outcome for s in bad_smoke.steps] == ["success"] * 3 + ["failure", "success", "success"], steps[
        bad_smoke.version
    ]["Smoke test through the public URL"].output[-2000:]
    assert "wrong result" in steps[bad_smoke.version]["Smoke test through the public URL"].output
    # The release that never gets Ready: the rollout timed out, no smoke, the rollback ran.
    assert [s.outcome for s in never_ready.steps] == ["success", "success", "failure", "skipped"] + [
        "success"
    ] * 2, steps[never_ready.version]["Wait for every rollout"].output[-2000:]
    waited = steps[never_ready.version]["Wait for every rollout"].output
    assert "deployment/api in conveyor-dev did not become ready" in waited, waited[-2000:]
    # The others are still waited for, to report them all.
    assert all(f"waiting for deployment/{c}" in waited for c in COMPONENTS), waited[-2000:]
    for failed in (bad_smoke, never_ready):
        rollback = steps[failed.version]["Roll back"].output
        assert "back to" in rollback, rollback
        # The previous release serves, and serves well.
        assert set(failed.serving.values()) == {good.version}, failed.serving
        assert failed.smoke_after == "passed"
    for r in results:
        assert r.requests > 20 and r.failures == [], (r.version, r.failures[:10])
