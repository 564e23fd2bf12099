# KEDA (github.com/kedacore/keda/v2): event-driven autoscaling (ScaledObject,
# ScaledJob) and the external.metrics.k8s.io API the HPAs it creates read.
# Upstream's config/minimal (CRDs, RBAC, operator, metrics API server; not the
# admission webhooks), in namespace keda. The operator makes and rotates the
# certificates between the API server, the metrics server and itself.
# shellcheck shell=bash

KEDA_MODULE=github.com/kedacore/keda/v2

images_keda() { printf '%s\n' "$KEDA_IMAGE" "$KEDA_METRICS_APISERVER_IMAGE"; }

build_keda() {
  have_image_tars "$KEDA_IMAGE" "$KEDA_METRICS_APISERVER_IMAGE" && return 0
  local bin
  go_build_addon keda "$KEDA_MODULE" "$KEDA_VERSION" "-X $KEDA_MODULE/version.Version=${KEDA_VERSION#v}" \
    "$KEDA_MODULE/cmd/operator" "$KEDA_MODULE/cmd/adapter"
  bin=$(addon_bin keda "$KEDA_VERSION")
  save_image "$KEDA_IMAGE" keda.Dockerfile "$bin/operator"
  save_image "$KEDA_METRICS_APISERVER_IMAGE" keda-metrics-apiserver.Dockerfile "$bin/adapter"
}

install_keda() {
  apply_kustomized keda "$(module_dir "$KEDA_MODULE" "$KEDA_VERSION")/config/minimal"
}

wait_keda() {
  wait_rollout keda deployment/keda-operator deployment/keda-metrics-apiserver
  wait_apiservice v1beta1.external.metrics.k8s.io
}
