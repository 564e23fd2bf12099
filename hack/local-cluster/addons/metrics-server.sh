# metrics-server (sigs.k8s.io/metrics-server): the resource metrics API behind
# `kubectl top` and CPU/memory HPAs. Upstream's release manifests, with TLS
# verified on both hops: the API server checks its serving certificate (signed
# by the cluster CA) and it checks the kubelets' against the same CA.
# shellcheck shell=bash

METRICS_SERVER_MODULE=sigs.k8s.io/metrics-server

images_metrics_server() { echo "$METRICS_SERVER_IMAGE"; }

build_metrics_server() {
  have_image_tars "$METRICS_SERVER_IMAGE" && return 0
  go_build_addon metrics-server "$METRICS_SERVER_MODULE" "$METRICS_SERVER_VERSION" \
    "-X k8s.io/client-go/pkg/version.gitVersion=$METRICS_SERVER_VERSION" "$METRICS_SERVER_MODULE/cmd/metrics-server"
  save_image "$METRICS_SERVER_IMAGE" metrics-server.Dockerfile "$(addon_bin metrics-server "$METRICS_SERVER_VERSION")/metrics-server"
}

install_metrics_server() {
  gen_cert metrics-server "/CN=metrics-server.kube-system.svc" server \
    "DNS:metrics-server.kube-system.svc,DNS:metrics-server.kube-system.svc.$CLUSTER_DOMAIN"
  kubectl_ -n kube-system create secret tls metrics-server-tls --cert="$PKI/metrics-server.crt" \
    --key="$PKI/metrics-server.key" --dry-run=client -o yaml | apply_ -f - || die "creating the metrics-server-tls Secret failed"
  apply_kustomized metrics-server "$(module_dir "$METRICS_SERVER_MODULE" "$METRICS_SERVER_VERSION")/manifests/overlays/release"
}

wait_metrics_server() {
  wait_rollout kube-system deployment/metrics-server
  wait_apiservice v1beta1.metrics.k8s.io
}
