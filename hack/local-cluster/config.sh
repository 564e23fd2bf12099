# shellcheck shell=bash disable=SC2034 # variables used by lib.sh and the commands
# Settings of the source-built cluster. Sourced by lib.sh; every value can be
# overridden from the environment.

# Pinned versions. Kubernetes 1.34 is the last minor whose kubelet starts on a
# cgroup v1 host without an opt-in (1.35+ need failCgroupV1: false).
KUBE_VERSION="${KUBE_VERSION:-v1.34.4}"
COREDNS_VERSION="${COREDNS_VERSION:-v1.14.7}"
# The pause image is built from the pause.c of the Kubernetes release above; the
# tag is the one Kubernetes 1.34 names for its sandbox image.
PAUSE_IMAGE="${PAUSE_IMAGE:-registry.k8s.io/pause:3.10.1}"
COREDNS_IMAGE="${COREDNS_IMAGE:-registry.k8s.io/coredns/coredns:${COREDNS_VERSION}}"
# Add-ons `up` builds, installs and waits for (addons/NAME.sh); an empty list
# gives the bare cluster. Each is built from its upstream module through the
# Go module proxy, except Prometheus, which is Debian's package.
LOCAL_CLUSTER_ADDONS="${LOCAL_CLUSTER_ADDONS-network-policy metrics-server prometheus keda}"
# kube-router's network policy controller: sigs.k8s.io/kube-network-policies
# needs the nftables `queue` statement (CONFIG_NFT_QUEUE), which these kernels
# lack; v2.1.0 is the newest kube-router the proxy serves (see README.md).
KUBE_ROUTER_VERSION="${KUBE_ROUTER_VERSION:-v2.1.0}"
# A node label naming the cluster's NetworkPolicy enforcer (also set by hack/cluster on kind and minikube).
ENFORCER_LABEL=conveyor-project.github.io/network-policy-enforcer
METRICS_SERVER_VERSION="${METRICS_SERVER_VERSION:-v0.8.0}"
PROMETHEUS_OPERATOR_VERSION="${PROMETHEUS_OPERATOR_VERSION:-v0.85.0}"
# The version Debian's prometheus package in DEBIAN_SUITE ships; the build checks it.
PROMETHEUS_VERSION="${PROMETHEUS_VERSION:-v2.53.3}"
KEDA_VERSION="${KEDA_VERSION:-v2.21.0}"
METRICS_SERVER_IMAGE="${METRICS_SERVER_IMAGE:-registry.k8s.io/metrics-server/metrics-server:${METRICS_SERVER_VERSION}}"
PROMETHEUS_OPERATOR_IMAGE="${PROMETHEUS_OPERATOR_IMAGE:-quay.io/prometheus-operator/prometheus-operator:${PROMETHEUS_OPERATOR_VERSION}}"
PROMETHEUS_CONFIG_RELOADER_IMAGE="${PROMETHEUS_CONFIG_RELOADER_IMAGE:-quay.io/prometheus-operator/prometheus-config-reloader:${PROMETHEUS_OPERATOR_VERSION}}"
# Debian's build, not upstream's image: a name of our own.
PROMETHEUS_IMAGE="${PROMETHEUS_IMAGE:-conveyor.local/prometheus:${PROMETHEUS_VERSION}-debian}"
KEDA_IMAGE="${KEDA_IMAGE:-ghcr.io/kedacore/keda:${KEDA_VERSION#v}}"
KEDA_METRICS_APISERVER_IMAGE="${KEDA_METRICS_APISERVER_IMAGE:-ghcr.io/kedacore/keda-metrics-apiserver:${KEDA_VERSION#v}}"
# Prometheus' API from this machine: a NodePort on the node's bridge address.
PROMETHEUS_NODE_PORT="${PROMETHEUS_NODE_PORT:-30090}"

# Debian suite that provides containerd, runc, the CNI plugins and etcd.
DEBIAN_SUITE="${DEBIAN_SUITE:-trixie}"
DEBIAN_PACKAGES="${DEBIAN_PACKAGES:-containerd runc containernetworking-plugins etcd-server}"

# Everything the cluster builds, downloads or keeps lives outside the clone, so
# that a fresh clone on the same machine reuses it.
CONVEYOR_CACHE="${CONVEYOR_CACHE:-/var/cache/conveyor}"
LC_HOME="${LC_HOME:-$CONVEYOR_CACHE/local-cluster}"
LC_GO="$LC_HOME/go"                         # GOCACHE, GOMODCACHE (shared across versions)
LC_KUBE_BIN="$LC_HOME/kubernetes/$KUBE_VERSION/bin"
LC_DEBIAN="$LC_HOME/debian/$DEBIAN_SUITE"   # extracted packages (usr/bin, usr/lib/cni ...)
LC_IMAGES="$LC_HOME/images"                 # docker-archive tarballs of every image the cluster runs
LC_ADDONS="$LC_HOME/addons"                 # add-on binaries and wrapper modules, by name and version
LC_STATE="$LC_HOME/state"                   # certificates, etcd data, kubelet and containerd roots
LC_LOGS="$LC_HOME/logs"
LC_RUN="${LC_RUN:-/run/conveyor-local-cluster}"  # pid files, sockets, containerd state (tmpfs-like)
KUBECONFIG_PATH="${LC_KUBECONFIG:-$LC_HOME/kubeconfig}"

# Addresses. The node's address lives on the cluster's own bridge (created
# before the kubelet starts), so the API server, the kubelet and NodePorts are
# reachable from this machine only, never on its external interfaces. The
# ranges avoid Docker's 172.17.0.0/16.
NODE_NAME="${NODE_NAME:-conveyor-local}"
BRIDGE="${LC_BRIDGE:-cni-conveyor}"
POD_CIDR="${POD_CIDR:-10.88.0.0/16}"
NODE_IP="${NODE_IP:-10.88.0.1}"
SERVICE_CIDR="${SERVICE_CIDR:-10.96.0.0/16}"
KUBERNETES_SVC_IP="${KUBERNETES_SVC_IP:-10.96.0.1}"
DNS_SVC_IP="${DNS_SVC_IP:-10.96.0.10}"
CLUSTER_DOMAIN="${CLUSTER_DOMAIN:-cluster.local}"
APISERVER_PORT="${APISERVER_PORT:-6443}"
ETCD_CLIENT_PORT="${ETCD_CLIENT_PORT:-2379}"
ETCD_PEER_PORT="${ETCD_PEER_PORT:-2380}"
