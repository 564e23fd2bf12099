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
LC_IMAGES="$LC_HOME/images"                 # docker-archive tarballs of pause and CoreDNS
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
