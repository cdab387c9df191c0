#!/usr/bin/env bash
# npm run test:interop — pnsmgr against the real NSM Go SDK (v1.18.0 sandbox): spec/interop.
#
#   npm run test:interop                         # every TestInterop_* test
#   npm run test:interop -- -run TestInterop_Basic
#   TEST_INTEROP_VERBOSE=1 npm run test:interop  # go test -v (per-test logs even when passing)
#
# Needs Go >= 1.24 and node with this checkout's node_modules (npm ci). Knobs read by the tests:
# INTEROP_VERBOSE=1 (pnsmgr output and DNS queries even when passing), INTEROP_SDK_LOG=1 (the SDK's own
# logs), INTEROP_PNSMGR_TRACE=all (PNSMGR_TRACE for every pnsmgr), INTEROP_PNSMGR_ENV="K=V ..." (extra
# pnsmgr settings), INTEROP_WIRETAP=<file> (every call reaching an SDK proxy, as JSON, appended to <file>).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

if ! command -v go >/dev/null 2>&1; then
  echo "test:interop: FAILED: the Go toolchain ('go') is not on PATH." >&2
  echo "test:interop: the interop harness (spec/interop) runs pnsmgr against the NSM Go SDK and needs Go >= 1.24: https://go.dev/dl/" >&2
  exit 1
fi

version="$(go env GOVERSION 2>/dev/null || true)"   # e.g. go1.26.8
if [[ "$version" =~ ^go1\.([0-9]+) ]] && (( BASH_REMATCH[1] < 24 )) && [[ "${GOTOOLCHAIN:-}" == "local" ]]; then
  echo "test:interop: FAILED: $version is too old and GOTOOLCHAIN=local forbids fetching a newer one; spec/interop needs Go >= 1.24." >&2
  exit 1
fi

if ! command -v node >/dev/null 2>&1; then
  echo "test:interop: FAILED: node is not on PATH (pnsmgr runs as node --import tsx lib/main.ts)." >&2
  exit 1
fi
if [[ ! -d "$root/node_modules/tsx" ]]; then
  echo "test:interop: FAILED: $root/node_modules/tsx is missing; run npm ci first." >&2
  exit 1
fi

# The secured scenarios run real SPIRE (spec/support/spire.ts through spire-cli.ts): build it now if it is
# not cached yet (several minutes, once), rather than inside a test's start-up timeout.
bash "$root/scripts/ensure-spire.sh" >/dev/null

cd "$root/spec/interop"
go mod download

args=(-count=1 -timeout "${TEST_INTEROP_TIMEOUT:-10m}")
if [[ -n "${TEST_INTEROP_VERBOSE:-}" ]]; then
  args+=(-v)
fi
exec go test "${args[@]}" "$@" ./...
