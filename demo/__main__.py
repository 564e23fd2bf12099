"""The Kubernetes demos, on the cluster of the current kubeconfig context:

    python -m demo deploy     # make demo: deploy the dev overlay, wait, print the URL
    python -m demo selfheal   # make demo DEMO=selfheal: delete pods one at a time, time each recovery
    python -m demo rollout    # make demo DEMO=rollout: roll the api under load, count failed requests
    python -m demo autoscale  # make demo DEMO=autoscale: a burst of jobs scales the workers out and back

The same code the end-to-end tests assert on, printed for people.
"""

from __future__ import annotations

import argparse
import sys
import time

from .autoscale import burst
from .conveyor import Conveyor
from .kube import DEPLOY_TIMEOUT, Cluster, table
from .rollout import roll_api
from .selfheal import self_heal


def slide(title: str) -> None:
    print(f"\n{'=' * 72}\n  {title}\n{'=' * 72}")


def deploy(cluster: Cluster) -> int:
    slide(f"Conveyor on Kubernetes: deploy/overlays/dev -> context {cluster.context}")
    start = time.monotonic()
    cluster.apply()
    ready = cluster.wait_ready(DEPLOY_TIMEOUT)
    print(
        table(
            ["workload", "ready after (s)"],
            [[k, f"{v:.1f}"] for k, v in sorted(ready.items(), key=lambda kv: kv[1])],
        )
    )
    print(f"\nall rolled out in {time.monotonic() - start:.0f} s\n")
    print(cluster.pods_table())
    with cluster.frontend() as url:
        with Conveyor(url) as conveyor:
            print(f"the api answers through the frontend after {conveyor.wait_reachable():.1f} s more")
        if url.startswith("http://127.0.0.1"):
            url = "kubectl -n conveyor-dev port-forward svc/frontend 8080:80, then http://127.0.0.1:8080"
        print(f"\nDashboard: {url}\nAPI docs:  {url}/api/docs")
    return 0


def selfheal(cluster: Cluster) -> int:
    slide("Self-healing: one pod deleted at a time, under a trickle of jobs")
    cluster.wait_ready(60)
    with cluster.frontend() as url:
        result = self_heal(cluster, url, progress=lambda line: print(line, flush=True))
    print("\n" + result.summary())
    return 1 if result.problems else 0


def rollout(cluster: Cluster) -> int:
    slide("Rolling update of the api under continuous requests")
    cluster.wait_ready(60)
    with cluster.frontend() as url:
        roll = roll_api(cluster, url)
    print("pods before:\n" + roll.pods_before)
    print(f"\n{roll.old_image}  ->  {roll.new_image}")
    print(f"rollout complete in {roll.seconds:.1f} s")
    print(f"requests during the rollout: {roll.requests}, failed: {len(roll.failures)}")
    for f in roll.failures[:10]:
        print("  FAILED", f)
    for e in roll.proxy_errors[:10]:
        print("  frontend:", e)
    print("\npods after:\n" + roll.pods_after)
    return 1 if roll.failures else 0


def autoscale(cluster: Cluster) -> int:
    slide("Autoscaling: a burst of sleep jobs, workers scaled by KEDA on the stream's lag")
    cluster.wait_ready(60)
    with cluster.frontend() as url:
        run = burst(cluster, url, progress=lambda line: print(line, flush=True))
    print("\n" + run.summary())
    return 0 if run.back_to_min_s is not None and not run.failed else 1


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("demo", choices=["deploy", "selfheal", "rollout", "autoscale"])
    demos = {"deploy": deploy, "selfheal": selfheal, "rollout": rollout, "autoscale": autoscale}
    demo = demos[parser.parse_args().demo]
    cluster = Cluster()
    if demo is not deploy and not cluster.namespace_exists():
        print(f"namespace {cluster.ns} does not exist: run `make demo` first", file=sys.stderr)
        return 2
    return demo(cluster)


if __name__ == "__main__":
    sys.exit(main())
