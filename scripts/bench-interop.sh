#!/usr/bin/env bash
# npm run bench:interop — pnsmgr side by side with the NSM SDK's Go nsmgr-proxy + registry-proxy-dns
# (spec/interop/bench_test.go, build tag interopbench): the 8-hop interdomain Request+Close at 1, 16 and
# 64 in flight with each kind of proxy at both domain edges, in one run; prints a table of ratios
# (pnsmgr / SDK: throughput, Request and Close p50/p99, CPU per cycle of the two proxy processes, RSS).
#
#   npm run bench:interop
#   INTEROP_BENCH_PHASE=15s INTEROP_BENCH_WARMUP=3s npm run bench:interop   # longer phases
#   INTEROP_BENCH_CPU_PROFILE=/tmp/prof npm run bench:interop   # + a V8 CPU profile and /metrics of each pnsmgr per phase
#   INTEROP_PNSMGR_BUILT= npm run bench:interop                  # pnsmgr under tsx (lib/main.ts) instead of the build
#
# pnsmgr runs as the image runs it, `node dist/lib/main.js` (built here first with npm run build), unless
# INTEROP_PNSMGR_BUILT is set empty; the tests of npm run test:interop run it under tsx.
#
# Needs Go >= 1.24 and node with this checkout's node_modules (npm ci). Bounded: the defaults (8 s phases,
# 2 s warm-up) take about 2 minutes after the first build; go test's -timeout ends it at 6 minutes.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
command -v go >/dev/null 2>&1 || { echo "bench:interop: FAILED: the Go toolchain ('go' >= 1.24) is not on PATH." >&2; exit 1; }
command -v node >/dev/null 2>&1 || { echo "bench:interop: FAILED: node is not on PATH." >&2; exit 1; }
[[ -d "$root/node_modules/tsx" ]] || { echo "bench:interop: FAILED: $root/node_modules/tsx is missing; run npm ci first." >&2; exit 1; }

export INTEROP_PNSMGR_BUILT="${INTEROP_PNSMGR_BUILT-1}"
if [[ -n "$INTEROP_PNSMGR_BUILT" ]]; then
  (cd "$root" && npm run -s build)
fi
if [[ -n "${INTEROP_BENCH_CPU_PROFILE:-}" ]]; then
  mkdir -p "$INTEROP_BENCH_CPU_PROFILE"
  export INTEROP_PNSMGR_ENV="${INTEROP_PNSMGR_ENV:-} NSM_PPROF_ENABLED=true NSM_PPROF_LISTEN_ON=127.0.0.1:0 PNSMGR_METRICS_LISTEN_ON=127.0.0.1:0"
fi

cd "$root/spec/interop"
go mod download
go test -tags interopbench -count=1 -timeout "${BENCH_INTEROP_TIMEOUT:-6m}" -run '^TestInteropBench$' -v "$@" . \
  | grep -v -e '^=== RUN' -e '^=== PAUSE' -e '^=== CONT'
