# Prometheus, run by the Prometheus Operator as kube-prometheus-stack runs it:
# the operator's CRDs (ServiceMonitor, PodMonitor, PrometheusRule, ...), the
# operator and its config reloader built from
# github.com/prometheus-operator/prometheus-operator, and one Prometheus
# (Debian's build) in namespace monitoring that picks up every ServiceMonitor,
# PodMonitor and PrometheusRule labelled release=kube-prometheus-stack, in any
# namespace. Its API answers on http://NODE_IP:PROMETHEUS_NODE_PORT.
# shellcheck shell=bash

PROMETHEUS_OPERATOR_MODULE=github.com/prometheus-operator/prometheus-operator

images_prometheus() { printf '%s\n' "$PROMETHEUS_OPERATOR_IMAGE" "$PROMETHEUS_CONFIG_RELOADER_IMAGE" "$PROMETHEUS_IMAGE"; }

build_prometheus() {
  if ! have_image_tars "$PROMETHEUS_OPERATOR_IMAGE" "$PROMETHEUS_CONFIG_RELOADER_IMAGE"; then
    local bin v=github.com/prometheus/common/version
    go_build_addon prometheus-operator "$PROMETHEUS_OPERATOR_MODULE" "$PROMETHEUS_OPERATOR_VERSION" \
      "-X $v.Version=${PROMETHEUS_OPERATOR_VERSION#v} -X $v.Branch=${PROMETHEUS_OPERATOR_VERSION} -X $v.BuildUser=hack/local-cluster" \
      "$PROMETHEUS_OPERATOR_MODULE/cmd/operator" "$PROMETHEUS_OPERATOR_MODULE/cmd/prometheus-config-reloader"
    bin=$(addon_bin prometheus-operator "$PROMETHEUS_OPERATOR_VERSION")
    save_image "$PROMETHEUS_OPERATOR_IMAGE" prometheus-operator.Dockerfile "$bin/operator"
    save_image "$PROMETHEUS_CONFIG_RELOADER_IMAGE" prometheus-config-reloader.Dockerfile "$bin/prometheus-config-reloader"
  fi
  if ! have_image_tars "$PROMETHEUS_IMAGE"; then
    local started=$SECONDS got
    log "building $PROMETHEUS_IMAGE from Debian $DEBIAN_SUITE's prometheus package"
    save_image "$PROMETHEUS_IMAGE" prometheus.Dockerfile
    got=$(docker run --rm "$PROMETHEUS_IMAGE" --version 2>&1 | sed -n 's/^prometheus, version \([0-9.]*\).*/v\1/p')
    if [ "$got" != "$PROMETHEUS_VERSION" ]; then
      rm -f "$(image_tar "$PROMETHEUS_IMAGE")"
      die "Debian $DEBIAN_SUITE's prometheus is ${got:-unknown}, not $PROMETHEUS_VERSION: set PROMETHEUS_VERSION in config.sh"
    fi
    log "built $PROMETHEUS_IMAGE in $((SECONDS - started))s"
  fi
}

install_prometheus() {
  local dir rbac
  dir=$(module_dir "$PROMETHEUS_OPERATOR_MODULE" "$PROMETHEUS_OPERATOR_VERSION")
  rbac="$dir/example/rbac"
  # The CRDs are large (seconds to apply): only when the release changes. They
  # carry it as an annotation; thanosrulers is the last of them to be applied.
  [ "$(kubectl_ get crd thanosrulers.monitoring.coreos.com -o jsonpath='{.metadata.annotations.operator\.prometheus\.io/version}' 2>/dev/null)" \
    = "${PROMETHEUS_OPERATOR_VERSION#v}" ] || apply_crds "$dir/example/prometheus-operator-crd"
  apply_kustomized prometheus \
    "$rbac"/prometheus-operator/prometheus-operator-{service-account,cluster-role,cluster-role-binding,deployment,service}.yaml \
    "$rbac"/prometheus/prometheus-{service-account,cluster-role,cluster-role-binding}.yaml
}

wait_prometheus() {
  wait_rollout monitoring deployment/prometheus-operator
  # The operator creates the StatefulSet; Available means its pods are ready.
  kubectl_ -n monitoring wait --for=condition=Available prometheus/k8s --timeout=300s >/dev/null \
    || die "Prometheus monitoring/k8s is not available after 300s; see: kubectl --kubeconfig $KUBECONFIG_PATH -n monitoring describe prometheus k8s"
  # The NodePort follows the pod's readiness a moment later.
  local i
  for ((i = 0; i < 30; i++)); do
    curl -fsS --max-time 5 "http://$NODE_IP:$PROMETHEUS_NODE_PORT/-/ready" >/dev/null 2>&1 && return 0
    sleep 1
  done
  die "Prometheus does not answer on http://$NODE_IP:$PROMETHEUS_NODE_PORT/-/ready"
}
