#!/usr/bin/env bash
# Point an overlay's images at pushed digests:
#
#   set-images.sh [--tag VERSION] OVERLAY REGISTRY COMPONENT=sha256:<digest> ...
#   set-images.sh --tag 1.4.2 deploy/overlays/prod ghcr.io/acme api=sha256:... worker=sha256:...
#
# Each conveyor-COMPONENT image of the overlay becomes REGISTRY/conveyor-COMPONENT@DIGEST,
# or REGISTRY/conveyor-COMPONENT:VERSION@DIGEST with --tag (kustomize edit set image).
# The digest is what the kubelet pulls, so what runs is exactly what was built and
# scanned whatever a tag points at later; the tag only tells people which release
# it is. KUSTOMIZE overrides the kustomize binary.
set -euo pipefail

KUSTOMIZE=${KUSTOMIZE:-kustomize}

usage() {
  sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}
tag=
if [[ ${1:-} == --tag ]]; then
  [[ $# -ge 2 ]] || usage
  tag=$2
  shift 2
  # A Docker tag: what kustomize and the registry accept.
  if [[ ! $tag =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]]; then
    echo "set-images: '$tag' is not a valid image tag" >&2
    exit 1
  fi
fi
[[ $# -ge 3 ]] || usage
overlay=$1
registry=${2%/}
shift 2

if [[ ! -f $overlay/kustomization.yaml ]]; then
  echo "set-images: $overlay/kustomization.yaml not found" >&2
  exit 1
fi
# Registry paths must be lower case (GitHub owners may not be).
if [[ $registry != "${registry,,}" ]]; then
  echo "set-images: registry '$registry' must be lower case" >&2
  exit 1
fi

args=()
for pair in "$@"; do
  component=${pair%%=*}
  digest=${pair#*=}
  if [[ ! $component =~ ^(api|worker|frontend)$ ]]; then
    echo "set-images: unknown component '$component' (api, worker or frontend)" >&2
    exit 1
  fi
  if [[ ! $digest =~ ^sha256:[0-9a-f]{64}$ ]]; then
    echo "set-images: '$digest' for $component is not a sha256 digest" >&2
    exit 1
  fi
  args+=("conveyor-$component=$registry/conveyor-$component${tag:+:$tag}@$digest")
done

(cd "$overlay" && "$KUSTOMIZE" edit set image "${args[@]}")
for arg in "${args[@]}"; do
  echo "set-images: $overlay: ${arg/=/ -> }"
done
