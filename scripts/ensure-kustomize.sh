#!/usr/bin/env bash
# Finds a kustomize renderer for the manifests' contract test (spec/unit/manifests.spec.ts) and prints
# the command: `kubectl kustomize` when kubectl is on PATH, else a kustomize binary (v5.8.0) built
# once from the Go module proxy (sigs.k8s.io/kustomize/kustomize/v5; v5.8.0 asks for Go 1.24, the
# README's minimum, where v5.8.2 asks for 1.26) into a cache directory.
#
#   bash scripts/ensure-kustomize.sh      # -> "/usr/bin/kubectl kustomize" or ".../kustomize-v5.8.0/bin/kustomize build"
#
# PNSMGR_CACHE_DIR moves the cache (default ~/.cache/pnsmgr). The build takes about a minute; with the
# binary present this returns at once. Progress goes to stderr, the command to stdout.
set -euo pipefail

version="v5.8.0"
cache="${PNSMGR_CACHE_DIR:-$HOME/.cache/pnsmgr}"
bin="$cache/kustomize-$version/bin"

if kubectl="$(command -v kubectl)" && "$kubectl" kustomize --help >/dev/null 2>&1; then
  echo "$kubectl kustomize"
  exit 0
fi

source "$(dirname "${BASH_SOURCE[0]}")/build-lock.sh"
reuse_or_lock "$bin/kustomize build" "$bin" kustomize

if ! command -v go >/dev/null 2>&1; then
  echo "ensure-kustomize: neither kubectl nor the Go toolchain ('go') is here; one of them is needed to render manifests/" >&2
  exit 1
fi
echo "ensure-kustomize: no kubectl; building kustomize $version from the Go module proxy" >&2
mkdir -p "$bin.partial"
GOBIN="$bin.partial" go install "sigs.k8s.io/kustomize/kustomize/v5@$version" >&2
rm -rf "$bin"
mv "$bin.partial" "$bin"
echo "ensure-kustomize: built into $bin" >&2
echo "$bin/kustomize build"
