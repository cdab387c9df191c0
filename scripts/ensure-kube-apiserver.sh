#!/usr/bin/env bash
# Builds kube-apiserver (Kubernetes v1.34.4) from the Go module proxy once, into a cache directory
# that later runs reuse, and installs etcd (Debian's etcd-server) when it is missing; prints the path
# of the kube-apiserver binary. spec/integration/nodes/kube-apiserver.spec.ts runs pnsmgr's node
# watcher and the manifests' RBAC against them.
#
#   bash scripts/ensure-kube-apiserver.sh     # -> /root/.cache/pnsmgr/kube-apiserver-v1.34.4/bin/kube-apiserver
#
# `go install k8s.io/kubernetes/cmd/kube-apiserver@v1.34.4` is refused (k8s.io/kubernetes's go.mod
# replaces its staging modules with ./staging/src/...), so a throwaway module requires k8s.io/kubernetes
# and replaces each of those staging modules with its published v0.34.4 release instead.
# PNSMGR_CACHE_DIR moves the cache (default ~/.cache/pnsmgr). The first build takes ~12 minutes on two
# cores; with the binary present this returns at once. Progress goes to stderr, the path to stdout.
set -euo pipefail

version="v1.34.4"
staging="v0.34.4"
cache="${PNSMGR_CACHE_DIR:-$HOME/.cache/pnsmgr}"
bin="$cache/kube-apiserver-$version/bin"

if ! command -v etcd >/dev/null 2>&1; then
  sudo=""
  if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then sudo="sudo -n"; fi
  echo "ensure-kube-apiserver: installing etcd-server with apt-get" >&2
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends etcd-server >&2
fi

source "$(dirname "${BASH_SOURCE[0]}")/build-lock.sh"
reuse_or_lock "$bin/kube-apiserver" "$bin" kube-apiserver

if ! command -v go >/dev/null 2>&1; then
  echo "ensure-kube-apiserver: the Go toolchain ('go') is needed to build kube-apiserver $version" >&2
  exit 1
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$bin.partial"
(
  cd "$work"
  go mod init pnsmgr.local/kube-apiserver >/dev/null 2>&1
  echo "ensure-kube-apiserver: fetching k8s.io/kubernetes $version from the Go module proxy" >&2
  go mod download -json "k8s.io/kubernetes@$version" >/dev/null
  gomod="$(go env GOMODCACHE)/cache/download/k8s.io/kubernetes/@v/$version.mod"
  {
    echo "require k8s.io/kubernetes $version"
    echo "replace ("
    grep -E '=> \./staging/' "$gomod" | awk -v v="$staging" '{ print "\t" $1 " => " $1 " " v }'
    echo ")"
  } >>go.mod
  printf '//go:build tools\n\npackage tools\n\nimport _ "k8s.io/kubernetes/cmd/kube-apiserver"\n' >tools.go
  go mod tidy >&2
  echo "ensure-kube-apiserver: compiling kube-apiserver (about 12 minutes the first time)" >&2
  go build -o "$bin.partial/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver >&2
)
rm -rf "$bin"
mv "$bin.partial" "$bin"
echo "ensure-kube-apiserver: built into $bin" >&2
echo "$bin/kube-apiserver"
