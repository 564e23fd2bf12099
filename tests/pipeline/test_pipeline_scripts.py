"""The release scripts the workflows call (.github/scripts), run for real.

smoke.py talks to a small fake Conveyor API, rollout.sh to a stand-in kubectl for what the
rehearsal on a real cluster (tests/e2e/test_release.py: waiting for every rollout, a rollout
that fails, the rollback) does not reach,
set-images.sh rewrites a copy of the prod overlay (rendered by kubectl), check-release-tag.sh
reads a scratch git repository.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / ".github" / "scripts"
DIGEST = "sha256:" + "ab" * 32


def run(
    *args: str | Path, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        check=False,
    )


# --- smoke.py ----------------------------------------------------------------------


class FakeConveyor:
    """POST /api/jobs and GET /api/jobs/{id}, answering as the scenario says."""

    def __init__(self, scenario: str):
        self.scenario = scenario
        self.polls = 0
        self.posts = 0
        self.idempotency_keys: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def answer(self, status: int, body: dict):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                request = json.loads(self.rfile.read(length))
                fake.posts += 1
                fake.idempotency_keys.append(self.headers.get("Idempotency-Key", ""))
                if fake.scenario == "warming-up" and fake.posts < 3:
                    self.answer(503, {"error": {"code": "unavailable", "message": "starting"}})
                    return
                fake.text = request["input"]
                assert request["task"] == "wordcount"
                self.answer(202, {"id": "0b7e3c1e-0000-4000-8000-000000000001", "status": "queued"})

            def do_GET(self):
                fake.polls += 1
                words = len(fake.text.split())
                job = {"id": "0b7e3c1e-0000-4000-8000-000000000001", "task": "wordcount"}
                if fake.scenario == "stuck" or fake.polls < 3:
                    job["status"] = "queued" if fake.polls < 2 else "running"
                elif fake.scenario == "fails":
                    job |= {"status": "failed", "error": "boom"}
                elif fake.scenario == "wrong-result":
                    job |= {"status": "succeeded", "result": {"words": words + 1}}
                else:
                    job |= {"status": "succeeded", "result": {"words": words, "chars": 10}}
                self.answer(200, job)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def conveyor(request):
    fake = FakeConveyor(request.param)
    yield fake
    fake.close()


def smoke(url: str, timeout: float = 5) -> subprocess.CompletedProcess[str]:
    return run(sys.executable, SCRIPTS / "smoke.py", "--timeout", str(timeout), "--interval", "0.05", url)


@pytest.mark.parametrize("conveyor", ["succeeds"], indirect=True)
def test_smoke_passes_when_the_job_succeeds(conveyor):
    result = smoke(conveyor.url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "succeeded" in result.stdout
    assert conveyor.idempotency_keys[0].startswith("smoke-")


@pytest.mark.parametrize("conveyor", ["warming-up"], indirect=True)
def test_smoke_retries_while_the_service_warms_up(conveyor):
    result = smoke(conveyor.url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert conveyor.posts == 3


@pytest.mark.parametrize(
    ("conveyor", "message"),
    [("fails", "failed: boom"), ("wrong-result", "wrong result"), ("stuck", "still running")],
    indirect=["conveyor"],
)
def test_smoke_fails_when_the_job_does_not_succeed(conveyor, message):
    result = smoke(conveyor.url, timeout=0.5)
    assert result.returncode == 1
    assert message in result.stdout


def test_smoke_fails_when_nothing_answers():
    result = smoke("http://127.0.0.1:9/", timeout=0.5)
    assert result.returncode == 1
    assert "kept failing" in result.stdout


def test_smoke_never_prints_credentials_in_the_url():
    result = smoke("http://user:hunter2@127.0.0.1:9/", timeout=0.2)
    assert result.returncode == 1
    assert "hunter2" not in result.stdout + result.stderr


# --- rollout.sh ----------------------------------------------------------------------

FAKE_KUBECTL = """#!/usr/bin/env bash
# Stand-in kubectl: `get` prints the state file, everything else is logged.
set -euo pipefail
echo "$*" >> "$FAKE_LOG"
case "$1" in
get) cat "$FAKE_STATE" ;;
rollout) if [[ "$2" == status && "$3" == "${FAKE_FAILING:-none}" ]]; then exit 1; fi ;;
esac
"""


@pytest.fixture
def cluster(tmp_path):
    kubectl = tmp_path / "kubectl"
    kubectl.write_text(FAKE_KUBECTL)
    kubectl.chmod(0o755)
    state, log = tmp_path / "state", tmp_path / "log"
    log.write_text("")

    def set_state(*objects: str):
        state.write_text("".join(f"{line}\n" for line in objects))

    def rollout(*args: str, failing: str = "none"):
        log.write_text("")
        result = run(
            SCRIPTS / "rollout.sh",
            *args,
            env={
                "KUBECTL": str(kubectl),
                "FAKE_STATE": str(state),
                "FAKE_LOG": str(log),
                "FAKE_FAILING": failing,
            },
        )
        calls = [line for line in log.read_text().splitlines() if not line.startswith("get ")]
        return result, calls

    return set_state, rollout, tmp_path / "snapshot"


BEFORE = [
    "Namespace  conveyor",
    "ConfigMap conveyor conveyor-config",
    "Service conveyor api",
    "Deployment conveyor api 4",
    "Deployment conveyor worker 4",
    "Deployment conveyor frontend 2",
    "StatefulSet conveyor postgres",
]


def test_rollout_status_fails_when_nothing_is_deployed(cluster):
    set_state, rollout, _ = cluster
    set_state()
    result, _ = rollout("status", "deploy/overlays/prod")
    assert result.returncode == 1


def test_undo_returns_only_what_moved_to_its_recorded_revision(cluster):
    set_state, rollout, snapshot = cluster
    set_state(*BEFORE)
    result, _ = rollout("snapshot", "deploy/overlays/prod", str(snapshot))
    assert result.returncode == 0, result.stderr
    # The release moved api and worker, left frontend alone, added "beat".
    set_state(
        *[line.replace("api 4", "api 5").replace("worker 4", "worker 5") for line in BEFORE],
        "Deployment conveyor beat 1",
    )
    result, calls = rollout("undo", "deploy/overlays/prod", str(snapshot), "60s")
    assert result.returncode == 0, result.stderr
    assert calls == [
        "rollout undo deployment/api -n conveyor --to-revision=4",
        "rollout status deployment/api -n conveyor --timeout=60s",
        "rollout undo deployment/worker -n conveyor --to-revision=4",
        "rollout status deployment/worker -n conveyor --timeout=60s",
    ]
    assert "frontend in conveyor unchanged" in result.stdout
    assert "beat in conveyor is new" in result.stdout


def test_undo_without_a_snapshot_touches_nothing(cluster):
    set_state, rollout, snapshot = cluster
    set_state(*BEFORE)
    result, calls = rollout("undo", "deploy/overlays/prod", str(snapshot))
    assert result.returncode == 0
    assert calls == []


def test_undo_fails_when_a_rollback_does_not_become_ready(cluster):
    set_state, rollout, snapshot = cluster
    set_state(*BEFORE)
    rollout("snapshot", "deploy/overlays/prod", str(snapshot))
    set_state(*[line.replace("api 4", "api 5") for line in BEFORE])
    result, _ = rollout("undo", "deploy/overlays/prod", str(snapshot), failing="deployment/api")
    assert result.returncode == 1


def test_rollout_usage_is_refused(cluster):
    _, rollout, _ = cluster
    result, calls = rollout("restart", "deploy/overlays/prod")
    assert result.returncode == 2
    assert calls == []


# --- set-images.sh, on a copy of the real prod overlay ------------------------------------

DIGESTS = {"api": "sha256:" + "a" * 64, "worker": "sha256:" + "b" * 64, "frontend": "sha256:" + "c" * 64}
PAIRS = [f"{c}={d}" for c, d in DIGESTS.items()]
KUBECTL = REPO / ".venv" / "bin" / "kubectl"


@pytest.fixture
def prod(tmp_path) -> Path:
    deploy = tmp_path / "deploy"
    shutil.copytree(REPO / "deploy", deploy)
    return deploy / "overlays" / "prod"


def rendered(overlay: Path) -> list[dict]:
    built = run(KUBECTL, "kustomize", overlay)
    assert built.returncode == 0, built.stderr
    return [doc for doc in yaml.safe_load_all(built.stdout) if doc]


def conveyor_images(objects: list[dict]) -> set[str]:
    return {
        c["image"]
        for o in objects
        for c in o.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])
        if "conveyor-" in c["image"]
    }


def test_set_images_pins_every_component_to_its_digest(prod):
    result = run(SCRIPTS / "set-images.sh", prod, "ghcr.io/acme", *PAIRS)
    assert result.returncode == 0, result.stderr
    assert conveyor_images(rendered(prod)) == {f"ghcr.io/acme/conveyor-{c}@{d}" for c, d in DIGESTS.items()}


def test_the_pinned_release_runs_the_digests_and_labels_its_version(prod):
    result = run(SCRIPTS / "set-images.sh", "--tag", "1.4.2", prod, "ghcr.io/acme", *PAIRS)
    assert result.returncode == 0, result.stderr
    objects = rendered(prod)
    assert conveyor_images(objects) == {f"ghcr.io/acme/conveyor-{c}:1.4.2@{d}" for c, d in DIGESTS.items()}
    versions = {
        o["metadata"]["labels"]["app.kubernetes.io/version"]
        for o in objects
        if o["metadata"]["labels"].get("app.kubernetes.io/name") in {"api", "worker", "frontend"}
    }
    assert versions == {"1.4.2"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ghcr.io/acme", "api=latest"], "not a sha256 digest"),
        (["ghcr.io/acme", "api=sha256:1234"], "not a sha256 digest"),
        (["ghcr.io/acme", f"db={DIGEST}", *PAIRS], "unknown component"),
        (["ghcr.io/Acme", *PAIRS], "must be lower case"),
        (["ghcr.io/acme", f"api={DIGEST}", f"worker={DIGEST}"], "no digest for frontend"),
    ],
)
def test_set_images_refuses_what_is_not_a_pushed_digest(prod, args, message):
    before = (prod / "release" / "kustomization.yaml").read_text()
    result = run(SCRIPTS / "set-images.sh", prod, *args)
    assert result.returncode == 1
    assert message in result.stderr
    assert (prod / "release" / "kustomization.yaml").read_text() == before


def test_set_images_refuses_an_invalid_tag(prod):
    result = run(SCRIPTS / "set-images.sh", "--tag", "v1/2", prod, "ghcr.io/acme", *PAIRS)
    assert result.returncode == 1 and "not a valid image tag" in result.stderr


# --- check-release-tag.sh ------------------------------------------------------------------


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    """main: A - B; a side branch off A with C; tags on B and C."""
    repo = tmp_path_factory.mktemp("history")
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    counter = itertools.count()

    def git(*args: str) -> str:
        result = run("git", *args, env=env, cwd=repo)
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    def commit() -> None:
        git("commit", "--allow-empty", "-q", "-m", f"commit {next(counter)}")

    git("init", "-q", "-b", "main")
    commit()
    git("checkout", "-q", "-b", "feature")
    commit()
    git("tag", "v9.9.9")
    git("checkout", "-q", "main")
    commit()
    for tag in ("v1.4.2", "v1.4", "v1.4.2-rc1", "v01.4.2"):
        git("tag", tag)
    return repo, env


@pytest.mark.parametrize(
    ("tag", "ok", "message"),
    [
        ("v1.4.2", True, "is on main"),
        ("v9.9.9", False, "is not on main"),
        ("v1.4", False, "is not a release tag"),
        ("v1.4.2-rc1", False, "is not a release tag"),
        ("v01.4.2", False, "is not a release tag"),
        ("v2.0.0", False, "cannot resolve"),
    ],
)
def test_only_vxyz_tags_on_main_are_released(history, tag, ok, message):
    repo, env = history
    result = run(SCRIPTS / "check-release-tag.sh", tag, "", "main", env=env, cwd=repo)
    assert result.returncode == (0 if ok else 1), result.stderr
    assert message in result.stdout + result.stderr
