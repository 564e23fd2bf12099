#!/usr/bin/env bash
# Refuse to release anything but a vX.Y.Z tag on a commit of main.
#
#   check-release-tag.sh TAG [COMMIT] [MAIN_REF]
#
# COMMIT defaults to what TAG points at, MAIN_REF to origin/main. The release
# workflow's trigger (v*.*.*) also matches v1.2.3-rc1 or v1.2.x; this is the
# strict check, and it runs before anything is built or pushed.
set -euo pipefail

if [[ $# -lt 1 || $# -gt 3 ]]; then
  sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi
tag=$1
main_ref=${3:-origin/main}

if [[ ! $tag =~ ^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$ ]]; then
  echo "check-release-tag: '$tag' is not a release tag (vMAJOR.MINOR.PATCH, e.g. v1.4.2)" >&2
  exit 1
fi
if ! commit=$(git rev-parse --verify --quiet "${2:-refs/tags/$tag}^{commit}"); then
  echo "check-release-tag: cannot resolve ${2:-refs/tags/$tag} to a commit" >&2
  exit 1
fi
if ! git rev-parse --verify --quiet "$main_ref^{commit}" >/dev/null; then
  echo "check-release-tag: $main_ref is not known here (fetch main first: git fetch origin main)" >&2
  exit 1
fi
if ! git merge-base --is-ancestor "$commit" "$main_ref"; then
  echo "check-release-tag: $tag ($commit) is not on $main_ref: releases are cut from main only" >&2
  exit 1
fi
echo "check-release-tag: $tag ($commit) is on $main_ref"
