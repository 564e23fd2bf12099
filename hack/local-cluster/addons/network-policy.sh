# NetworkPolicy enforcement: kube-router's network policy controller alone
# (github.com/cloudnativelabs/kube-router/v2, iptables and ipset), a host
# process beside kube-proxy with its own client certificate. No routing, no
# service proxy, no BGP (those parts carry kube-router's published advisories).
# sigs.k8s.io/kube-network-policies cannot run here: it queues packets with
# the nftables `queue` statement, and these kernels lack CONFIG_NFT_QUEUE.
# shellcheck shell=bash

KUBE_ROUTER_MODULE=github.com/cloudnativelabs/kube-router/v2
KUBE_ROUTER_METRICS=127.0.0.1:20245

kube_router_bin() { printf '%s/kube-router\n' "$(addon_bin kube-router "$KUBE_ROUTER_VERSION")"; }

build_network_policy() {
  go_build_addon kube-router "$KUBE_ROUTER_MODULE" "$KUBE_ROUTER_VERSION" \
    "-X $KUBE_ROUTER_MODULE/pkg/version.Version=$KUBE_ROUTER_VERSION" "$KUBE_ROUTER_MODULE/cmd/kube-router"
}

# Runs after the API server and the node are up: its RBAC first, then the
# process, which is ready once its chains sit at the top of FORWARD.
start_network_policy() {
  gen_cert kube-router "/CN=system:kube-router" client
  write_kubeconfig "$CADIR/kube-router.kubeconfig" kube-router
  apply_ -f "$LC_DIR/addons/network-policy/rbac.yaml" || die "applying kube-router's RBAC failed"
  # The health port would listen on every interface: metrics on loopback only.
  start kube-router 90 "curl -fsS --max-time 3 http://$KUBE_ROUTER_METRICS/metrics >/dev/null && iptables -w -S FORWARD | grep -q -- '-j KUBE-ROUTER-FORWARD'" \
    "$(kube_router_bin)" --run-firewall=true --run-router=false --run-service-proxy=false --enable-cni=false \
    --kubeconfig="$CADIR/kube-router.kubeconfig" --hostname-override="$NODE_NAME" \
    --service-cluster-ip-range="$SERVICE_CIDR" \
    --health-port=0 --metrics-addr="${KUBE_ROUTER_METRICS%:*}" --metrics-port="${KUBE_ROUTER_METRICS##*:}"
}

# Removes kube-router's chains and ipsets (clean), so that traffic flows
# unfiltered again; v2.1.0's own --cleanup-config leaves them in place.
KUBE_ROUTER_CHAINS='KUBE-(ROUTER-(FORWARD|INPUT|OUTPUT)|POD-FW-[A-Z0-9]+|NWPLCY-[A-Z0-9]+)'

cleanup_network_policy() {
  command -v iptables >/dev/null || return 0
  local rule chains chain op set
  # The jumps from the built-in chains (xargs keeps the quoted comments whole),
  # then every chain's rules, then the chains.
  while read -r rule; do
    xargs iptables -w -D <<< "${rule#-A }" 2>/dev/null || true
  done < <(iptables -w -S | grep -E -- "^-A (INPUT|FORWARD|OUTPUT) .*-j $KUBE_ROUTER_CHAINS( |$)" || true)
  chains=$(iptables -w -S | sed -En "s/^-N ($KUBE_ROUTER_CHAINS)$/\1/p")
  for op in -F -X; do
    for chain in $chains; do iptables -w "$op" "$chain" 2>/dev/null || true; done
  done
  command -v ipset >/dev/null || return 0
  for set in $(ipset list -n | grep -E '^KUBE-(SRC|DST)-' || true); do ipset destroy "$set" 2>/dev/null || true; done
}

# The cluster says it enforces NetworkPolicies, so that make e2e fails (not skips) if they leak.
wait_network_policy() {
  kubectl_ label node "$NODE_NAME" --overwrite "$ENFORCER_LABEL=kube-router" >/dev/null \
    || die "labelling node $NODE_NAME as enforcing NetworkPolicies failed"
}
