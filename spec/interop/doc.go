// Package interop runs pnsmgr (the TypeScript Proxy NSMgr) against the real Network Service Mesh Go
// SDK: whole NSM domains are built in-process with the SDK's sandbox (registry, nsmgr, forwarder,
// NSE, NSC over h2c with test tokens) and each domain's proxy is either a pnsmgr process
// (`node --import tsx lib/main.ts`) or the SDK's own nsmgr-proxy + registry-proxy-dns. Everything is
// in the *_test.go files; run it with `npm run test:interop` (scripts/test-interop.sh).
package interop
