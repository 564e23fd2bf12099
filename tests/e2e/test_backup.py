"""A backup that restores, on the cluster: the backup CronJobs are there, `make backup` takes
a dump, the dump is copied off the cluster, the namespace is deleted with its volumes, the
overlay is deployed again onto an empty database, the dump goes back onto the new claim and
`make restore` brings every job back. (This is what a user does after losing a namespace or a
cluster; the copy off the cluster is what survives, see docs/kubernetes.md, Backups.)"""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from demo.conveyor import Conveyor
from demo.kube import DEPLOY_TIMEOUT, KUBECTL, ROOT, Cluster, wait_for

pytestmark = pytest.mark.cluster


def run(*args: str, timeout: float = 900) -> str:
    """A make target or hack/backup, as a user runs it; its output, or a failure with it."""
    env = {
        **os.environ,
        "KUBECTL": KUBECTL,
        "NAMESPACE": os.environ.get("CONVEYOR_NAMESPACE", "conveyor-dev"),
    }
    done = subprocess.run(
        list(args), cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def volumes_of(cluster: Cluster) -> list[str]:
    return [
        pv.metadata.name
        for pv in cluster.core.list_persistent_volume().items
        if pv.spec.claim_ref and pv.spec.claim_ref.namespace == cluster.ns
    ]


def test_backup_survives_the_namespace_and_restores(
    cluster: Cluster, running: None, report, tmp_path: Path
) -> None:
    cronjobs = {c.metadata.name: c for c in cluster.batch.list_namespaced_cron_job(cluster.ns).items}
    assert {"postgres-backup", "postgres-restore"} <= set(cronjobs), sorted(cronjobs)
    assert not cronjobs["postgres-backup"].spec.suspend and cronjobs["postgres-restore"].spec.suspend

    with cluster.frontend() as url, Conveyor(url) as api:
        api.wait_reachable()
        marked = [api.submit("wordcount", f"kept by the backup {n} kept") for n in range(5)]
        before = api.wait_finished([j["id"] for j in marked], 60)
        count_before = sum(api.stats()["counts"].values())

    start = time.monotonic()
    taken = run("make", "--no-print-directory", "backup", "ENV=dev")
    backup_s = time.monotonic() - start
    match = re.search(r"backup: (conveyor-\d{8}T\d{6}Z\.dump) (\d+) bytes", taken)
    assert match, taken
    dump, size = match.group(1), int(match.group(2))
    # The Job's status is what says it worked: the CronJob's own Jobs and this one alike.
    jobs = cluster.batch.list_namespaced_job(cluster.ns, label_selector="app.kubernetes.io/component=backup")
    assert any((j.status.succeeded or 0) >= 1 for j in jobs.items)
    run("hack/backup", "download", dump, str(tmp_path))
    assert (tmp_path / dump).stat().st_size == size

    # Everything goes: the namespace, its claims and their volumes (the StorageClass deletes them).
    volumes = volumes_of(cluster)
    assert len(volumes) >= 3, volumes  # PostgreSQL's, Redis's, the backups'
    start = time.monotonic()
    cluster.remove_namespace()
    wait_for(lambda: not volumes_of(cluster), 180, 2, "the namespace's volumes to be deleted")
    gone_s = time.monotonic() - start

    start = time.monotonic()
    cluster.apply()
    cluster.wait_ready(DEPLOY_TIMEOUT)
    redeploy_s = time.monotonic() - start
    with cluster.frontend() as url, Conveyor(url) as api:
        api.wait_reachable()
        assert sum(api.stats()["counts"].values()) == 0, "the new database is not empty"
        assert httpx.get(f"{url}/api/jobs/{marked[0]['id']}", timeout=10).status_code == 404

    run("hack/backup", "upload", str(tmp_path / dump))
    start = time.monotonic()
    restored = run("make", "--no-print-directory", "restore", "ENV=dev", f"DUMP={dump}")
    restore_s = time.monotonic() - start
    assert f"restore: {dump} restored" in restored, restored

    with cluster.frontend() as url, Conveyor(url) as api:
        reachable_s = api.wait_reachable()
        after = {j["id"]: api.job(j["id"]) for j in marked}
        count_after = sum(api.stats()["counts"].values())
        # The restored database takes new work too.
        fresh = api.submit("uppercase", "after the restore")
        fresh_done = api.wait_finished([fresh["id"]], 60)[fresh["id"]]
    assert after == before
    assert count_after == count_before
    assert fresh_done["status"] == "succeeded"
    cronjobs = {c.metadata.name for c in cluster.batch.list_namespaced_cron_job(cluster.ns).items}
    assert {"postgres-backup", "postgres-restore"} <= cronjobs

    report(
        "Backup and restore across a deleted namespace",
        f"make backup: {dump}, {size} bytes (custom format), {backup_s:.1f} s; copied off the cluster "
        f"(hack/backup download)\n"
        f"namespace {cluster.ns} and its {len(volumes)} volumes deleted in {gone_s:.1f} s; "
        f"redeployed onto an empty database in {redeploy_s:.1f} s\n"
        f"hack/backup upload, then make restore DUMP={dump}: {restore_s:.1f} s (api and worker stopped, "
        f"pg_restore, both ready again), the api answering through the frontend {reachable_s:.1f} s later\n"
        f"all {count_after} jobs of before are back ({len(marked)} checked field by field); a new job "
        f"{fresh_done['status']}; CronJobs postgres-backup and postgres-restore in place",
    )
