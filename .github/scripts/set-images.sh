#!/usr/bin/env bash
# Pin a release's images: rewrites OVERLAY/release/kustomization.yaml (a Component).
#
#   set-images.sh [--tag VERSION] OVERLAY REGISTRY api=sha256:<digest> worker=sha256:<digest> frontend=sha256:<digest>
#
# Each conveyor-COMPONENT image becomes REGISTRY/conveyor-COMPONENT[:VERSION]@DIGEST: the kubelet
# pulls the digest that was built and scanned; the tag tells people which release it is.
set -euo pipefail

usage() {
  sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}
tag=
if [[ ${1:-} == --tag ]]; then
  [[ $# -ge 2 ]] || usage
  tag=$2
  shift 2
  if [[ ! $tag =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]]; then
    echo "set-images: '$tag' is not a valid image tag" >&2
    exit 1
  fi
fi
[[ $# -ge 3 ]] || usage
file=$1/release/kustomization.yaml
registry=${2%/}
shift 2
if [[ ! -f $file ]]; then
  echo "set-images: $file not found" >&2
  exit 1
fi
if [[ $registry != "${registry,,}" ]]; then
  echo "set-images: registry '$registry' must be lower case" >&2
  exit 1
fi

declare -A digests=()
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
  digests[$component]=$digest
done
for component in api worker frontend; do
  [[ -n ${digests[$component]:-} ]] || { echo "set-images: no digest for $component" >&2; exit 1; }
done

{
  echo "# Written by .github/scripts/set-images.sh${tag:+ for release $tag}."
  echo "apiVersion: kustomize.config.k8s.io/v1alpha1"
  echo "kind: Component"
  echo
  echo "images:"
  for component in api worker frontend; do
    echo "  - name: conveyor-$component"
    echo "    newName: $registry/conveyor-$component"
    [[ -z $tag ]] || echo "    newTag: \"$tag\""
    echo "    digest: ${digests[$component]}"
    echo "set-images: conveyor-$component -> $registry/conveyor-$component${tag:+:$tag}@${digests[$component]}" >&2
  done
} >"$file.tmp"
mv "$file.tmp" "$file"
