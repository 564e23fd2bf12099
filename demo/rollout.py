"""A rolling update of the api under continuous requests, counting failed requests."""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass

from .kube import RECOVERY_TIMEOUT, Cluster, component, load_images, wait_for
from .traffic import Load


@dataclass
class Rollout:
    old_image: str
    new_image: str
    seconds: float
    requests: int
    failures: list[str]
    pods_before: str
    pods_after: str
    proxy_errors: list[str]  # what the frontend's nginx logged about failed requests


def roll_api(cluster: Cluster, base_url: str, timeout: float = RECOVERY_TIMEOUT) -> Rollout:
    """Gives the api Deployment a second tag of its own image under continuous
    requests, and counts the requests that failed while it rolled."""
    old = cluster.deployment_image("api", "api")
    # Alternate between TAG and TAG-roll, so that a demo can be run again and again.
    new = old.removesuffix("-roll") if old.endswith("-roll") else f"{old}-roll"
    subprocess.run(["docker", "tag", old, new], check=True)
    load_images(new)
    before = cluster.pods_table(component("api"))
    with Load(base_url) as load:
        time.sleep(3)  # traffic flows before the rollout starts
        start = time.monotonic()
        cluster.set_image("api", "api", new)
        wait_for(lambda: cluster.rollout_done("api"), timeout, 0.5, "the api rollout to complete")
        seconds = time.monotonic() - start
        time.sleep(5)  # and keeps flowing while the old pod is gone for good
    errors = cluster.log_errors("frontend", since=time.monotonic() - start + 10) if load.failures else []
    after = cluster.pods_table(component("api"))
    return Rollout(old, new, seconds, load.requests, load.failures, before, after, errors)
