#!/usr/bin/env bash
# Wait for, record and roll back the workloads of one Kustomize overlay.
#
#   rollout.sh snapshot OVERLAY FILE    record the current revision of each Deployment
#   rollout.sh status   OVERLAY [TIMEOUT]
#                                       wait for every Deployment, StatefulSet and
#                                       DaemonSet of the overlay (default 300s each)
#   rollout.sh undo     OVERLAY FILE [TIMEOUT]
#                                       roll each Deployment whose revision moved
#                                       since the snapshot back to that revision
#   rollout.sh diagnose OVERLAY         print the state, events and recent logs of
#                                       the overlay's namespaces (for failed runs)
#
# The workloads are the overlay's own (kubectl get -k), in their own
# namespaces, so nothing else in the cluster is touched. `undo` goes back to
# the recorded revision instead of "the previous one": a Deployment this
# release did not change would otherwise be rolled back to an older release.
# KUBECTL overrides the kubectl binary (the tests use a stand-in).
set -euo pipefail

KUBECTL=${KUBECTL:-kubectl}
ROLLOUT_KINDS='^(Deployment|StatefulSet|DaemonSet)$'

usage() {
  sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# One line per live object of the overlay: KIND NAMESPACE NAME REVISION
# (REVISION is "-" where Kubernetes keeps none, e.g. on a StatefulSet).
list_objects() {
  local overlay=$1
  "$KUBECTL" get -k "$overlay" --ignore-not-found -o \
    'jsonpath={range .items[*]}{.kind}{" "}{.metadata.namespace}{" "}{.metadata.name}{" "}{.metadata.annotations.deployment\.kubernetes\.io/revision}{"\n"}{end}' |
    awk 'NF >= 3 { ns = ($2 == "" ? "default" : $2); print $1, ns, $3, (NF >= 4 ? $4 : "-") }'
}

cmd_snapshot() {
  local overlay=$1 file=$2
  list_objects "$overlay" | awk '$1 == "Deployment"' >"$file"
  echo "rollout: recorded $(wc -l <"$file" | tr -d ' ') Deployment revision(s) in $file"
}

cmd_status() {
  local overlay=$1 timeout=${2:-300s} failed=0 found=0 kind ns name _rev
  while read -r kind ns name _rev; do
    [[ $kind =~ $ROLLOUT_KINDS ]] || continue
    found=$((found + 1))
    echo "rollout: waiting for ${kind,,}/$name in $ns (timeout $timeout)"
    if ! "$KUBECTL" rollout status "${kind,,}/$name" -n "$ns" --timeout="$timeout"; then
      echo "rollout: ${kind,,}/$name in $ns did not become ready" >&2
      failed=1
    fi
  done < <(list_objects "$overlay")
  if [[ $found -eq 0 ]]; then
    echo "rollout: no Deployment, StatefulSet or DaemonSet of $overlay found in the cluster" >&2
    return 1
  fi
  return "$failed"
}

cmd_undo() {
  local overlay=$1 file=$2 timeout=${3:-300s} failed=0 kind ns name rev before
  if [[ ! -f $file ]]; then
    echo "rollout: no snapshot at $file, so nothing was applied yet: nothing to roll back" >&2
    return 0
  fi
  while read -r kind ns name rev; do
    [[ $kind == Deployment ]] || continue
    before=$(awk -v ns="$ns" -v name="$name" '$2 == ns && $3 == name { print $4 }' "$file")
    if [[ -z $before || $before == - ]]; then
      echo "rollout: deployment/$name in $ns is new in this release: no earlier revision to go back to"
      continue
    fi
    if [[ $before == "$rev" ]]; then
      echo "rollout: deployment/$name in $ns unchanged (revision $rev): left alone"
      continue
    fi
    echo "rollout: deployment/$name in $ns: revision $rev -> back to $before"
    if ! "$KUBECTL" rollout undo "deployment/$name" -n "$ns" --to-revision="$before" ||
      ! "$KUBECTL" rollout status "deployment/$name" -n "$ns" --timeout="$timeout"; then
      echo "rollout: rolling back deployment/$name in $ns failed" >&2
      failed=1
    fi
  done < <(list_objects "$overlay")
  return "$failed"
}

cmd_diagnose() {
  local overlay=$1 ns pod
  for ns in $(list_objects "$overlay" | awk '{ print $2 }' | sort -u); do
    echo "::group::namespace $ns"
    "$KUBECTL" get all,pvc -n "$ns" -o wide || true
    "$KUBECTL" get events -n "$ns" --sort-by=.lastTimestamp || true
    "$KUBECTL" describe pods -n "$ns" || true
    echo "::endgroup::"
    for pod in $("$KUBECTL" get pods -n "$ns" -o 'jsonpath={.items[*].metadata.name}' || true); do
      echo "::group::logs $ns/$pod"
      "$KUBECTL" logs -n "$ns" "$pod" --all-containers --tail=200 || true
      echo "::endgroup::"
    done
  done
}

[[ $# -ge 2 ]] || usage
command=$1
shift
case $command in
snapshot) [[ $# -eq 2 ]] || usage; cmd_snapshot "$@" ;;
status) [[ $# -le 2 ]] || usage; cmd_status "$@" ;;
undo) [[ $# -ge 2 && $# -le 3 ]] || usage; cmd_undo "$@" ;;
diagnose) [[ $# -eq 1 ]] || usage; cmd_diagnose "$@" ;;
*) usage ;;
esac
