#!/usr/bin/env bash
# Regenerates generated/ from protos/. The v1 NSM API and the seed's v0 registry share the proto
# package name `registry` with different shapes, so each is compiled as its own module; pnsmgr's own
# admin API (protos/pnsmgr) is a third, the SPIFFE Workload API (protos/spiffe) a fourth.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf generated
for module in nsm seed pnsmgr spiffe; do
  npx buf generate "protos/$module" --template buf.gen.yaml -o "generated/$module"
  mv "generated/$module/generated/"* "generated/$module/" && rmdir "generated/$module/generated"
done
# An rpc named Close clashes with grpc-js Client#close(); the proxy never uses generated clients'
# close(), so the generated interface drops the base method instead of failing to compile.
sed -i 's/export interface NetworkServiceClient extends Client {/export interface NetworkServiceClient extends Omit<Client, "close"> {/' \
  generated/nsm/networkservice.ts
