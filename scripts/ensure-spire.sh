#!/usr/bin/env bash
# Builds SPIRE's spire-server and spire-agent (v1.13.3) from the Go module proxy once, into a cache
# directory that later runs reuse, and prints the directory holding both binaries.
#
#   bash scripts/ensure-spire.sh          # -> /root/.cache/pnsmgr/spire-v1.13.3/bin
#
# PNSMGR_CACHE_DIR moves the cache (default ~/.cache/pnsmgr). The first build takes ~6-7 minutes on two
# cores; with the binaries present this returns at once. Progress goes to stderr, the path to stdout.
set -euo pipefail

version="v1.13.3"
cache="${PNSMGR_CACHE_DIR:-$HOME/.cache/pnsmgr}"
bin="$cache/spire-$version/bin"

source "$(dirname "${BASH_SOURCE[0]}")/build-lock.sh"
reuse_or_lock "$bin" "$bin" spire-server spire-agent

if ! command -v go >/dev/null 2>&1; then
  echo "ensure-spire: the Go toolchain ('go') is needed to build SPIRE $version" >&2
  exit 1
fi

# A throwaway module records SPIRE as a tool dependency (go get -tool), so that go install builds the
# exact versions SPIRE's own go.mod asks for.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$bin.partial"
(
  cd "$work"
  go mod init pnsmgr.local/spire-tools >/dev/null 2>&1
  echo "ensure-spire: fetching SPIRE $version from the Go module proxy" >&2
  go get -tool "github.com/spiffe/spire/cmd/spire-server@$version" >&2
  go get -tool "github.com/spiffe/spire/cmd/spire-agent@$version" >&2
  echo "ensure-spire: compiling spire-server and spire-agent (several minutes the first time)" >&2
  GOBIN="$bin.partial" go install github.com/spiffe/spire/cmd/spire-server github.com/spiffe/spire/cmd/spire-agent >&2
)
rm -rf "$bin"
mv "$bin.partial" "$bin"
echo "ensure-spire: built into $bin" >&2
echo "$bin"
