"""The NetworkPolicies, evaluated: a small model of the NetworkPolicy rules
(pod and namespace selectors, ports, the union of policies, both directions)
decides every connection between the rendered pods, and the result must be
exactly the allowed list of the design. A policy that allows too much fails
here as surely as one that breaks the application."""

from __future__ import annotations

import itertools

import pytest

from tests.deploy import checks

OUTSIDE = "outside"  # a client outside the namespace (ingress controller, NodePort)
DNS = "kube-dns"

# (source, destination, port, protocol) that must work; everything else is denied.
ALLOWED = {
    (OUTSIDE, "frontend", 8080, "TCP"),
    (OUTSIDE, "worker", 9000, "TCP"),  # metrics scraper
    ("frontend", "api", 8000, "TCP"),
    ("api", "postgres", 5432, "TCP"),
    ("api", "redis", 6379, "TCP"),
    ("worker", "postgres", 5432, "TCP"),
    ("worker", "redis", 6379, "TCP"),
}
PORTS = {"frontend": 8080, "api": 8000, "worker": 9000, "postgres": 5432, "redis": 6379, DNS: 53}


def selector_matches(selector: dict | None, labels: dict) -> bool:
    if selector is None:
        return True
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions", []):
        present, value = expr["key"] in labels, labels.get(expr["key"])
        op = expr["operator"]
        if (
            (op == "In" and value not in expr["values"])
            or (op == "NotIn" and value in expr["values"])
            or (op == "Exists" and not present)
            or (op == "DoesNotExist" and present)
        ):
            return False
    return True


class Cluster:
    def __init__(self, objs: list[dict]):
        self.namespace = next(o["metadata"]["name"] for o in objs if o["kind"] == "Namespace")
        self.policies = [o for o in objs if o["kind"] == "NetworkPolicy"]
        self.pods = {
            o["metadata"]["name"]: {
                "labels": o["spec"]["template"]["metadata"]["labels"],
                "ns": self.namespace,
            }
            for o in objs
            if o["kind"] in {"Deployment", "StatefulSet"}
        }
        self.pods[OUTSIDE] = {"labels": {"app": "ingress-nginx"}, "ns": "ingress-nginx"}
        self.pods[DNS] = {"labels": {"k8s-app": "kube-dns"}, "ns": "kube-system"}
        self.ns_labels = {
            self.namespace: {"kubernetes.io/metadata.name": self.namespace},
            "ingress-nginx": {"kubernetes.io/metadata.name": "ingress-nginx"},
            "kube-system": {"kubernetes.io/metadata.name": "kube-system"},
        }

    def peer_matches(self, peer: dict, pod: dict) -> bool:
        if "ipBlock" in peer:
            return True  # none expected; the test below forbids them
        if "namespaceSelector" in peer:
            if not selector_matches(peer["namespaceSelector"], self.ns_labels[pod["ns"]]):
                return False
        elif pod["ns"] != self.namespace:
            return False
        return selector_matches(peer.get("podSelector"), pod["labels"])

    @staticmethod
    def port_matches(ports: list[dict] | None, port: int, protocol: str) -> bool:
        if not ports:
            return True
        return any(p.get("protocol", "TCP") == protocol and p.get("port") in (None, port) for p in ports)

    def direction_allows(self, direction: str, subject: str, peer: str, port: int, protocol: str) -> bool:
        pod = self.pods[subject]
        if pod["ns"] != self.namespace:
            return True  # outside our namespace: not governed by these policies
        key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
        selecting = [
            p
            for p in self.policies
            if direction in p["spec"].get("policyTypes", ["Ingress"])
            and selector_matches(p["spec"]["podSelector"], pod["labels"])
        ]
        if not selecting:
            return True
        for policy in selecting:
            for rule in policy["spec"].get(key, []):
                peers = rule.get(peers_key)
                if not self.port_matches(rule.get("ports"), port, protocol):
                    continue
                if not peers or any(self.peer_matches(peer_spec, self.pods[peer]) for peer_spec in peers):
                    return True
        return False

    def allows(self, src: str, dst: str, port: int, protocol: str = "TCP") -> bool:
        return self.direction_allows("Egress", src, dst, port, protocol) and self.direction_allows(
            "Ingress", dst, src, port, protocol
        )


@pytest.fixture(params=checks.OVERLAYS)
def cluster(request, objects) -> Cluster:
    return Cluster(objects[request.param])


def test_every_namespace_pod_is_default_denied(cluster):
    deny = next(p for p in cluster.policies if p["metadata"]["name"] == "default-deny")
    assert deny["spec"]["podSelector"] == {}
    assert sorted(deny["spec"]["policyTypes"]) == ["Egress", "Ingress"]
    assert "ingress" not in deny["spec"] and "egress" not in deny["spec"]


def test_no_policy_opens_an_ip_range(cluster):
    for policy in cluster.policies:
        for rule in policy["spec"].get("ingress", []) + policy["spec"].get("egress", []):
            for peer in rule.get("from", []) + rule.get("to", []):
                assert "ipBlock" not in peer, policy["metadata"]["name"]


def test_connections_are_exactly_the_designed_ones(cluster):
    sources = [OUTSIDE, "frontend", "api", "worker", "postgres", "redis"]
    destinations = ["frontend", "api", "worker", "postgres", "redis"]
    actual = {
        (src, dst, PORTS[dst], "TCP")
        for src, dst in itertools.product(sources, destinations)
        if src != dst and cluster.allows(src, dst, PORTS[dst])
    }
    assert actual == ALLOWED


@pytest.mark.parametrize("pod", ["frontend", "api", "worker", "postgres", "redis"])
def test_every_pod_resolves_names_and_nothing_else_leaves(cluster, pod):
    assert cluster.allows(pod, DNS, 53, "UDP")
    assert cluster.allows(pod, DNS, 53, "TCP")
    assert not cluster.allows(pod, DNS, 80, "TCP")
    assert not cluster.allows(pod, OUTSIDE, 443, "TCP")


def test_the_model_itself_denies_without_the_allow_rules(objects):
    """The evaluator is not vacuous: drop the component policies and only DNS remains."""
    objs = [
        o
        for o in objects["dev"]
        if o["kind"] != "NetworkPolicy" or o["metadata"]["name"] in {"default-deny", "allow-dns-egress"}
    ]
    bare = Cluster(objs)
    assert not any(bare.allows(src, dst, PORTS[dst]) for src, dst, _, _ in ALLOWED)
    assert bare.allows("api", DNS, 53, "UDP")
