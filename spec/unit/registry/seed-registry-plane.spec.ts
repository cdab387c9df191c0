/** The assembled plane over a fake Upstream: which next hop each call reaches, with what, and what comes back. */
import test from "ava";
import { NEVER, type Observable, firstValueFrom, lastValueFrom, of, throwError, toArray } from "rxjs";
import { type Config, loadConfig } from "../../../lib/config.js";
import { createDomainResolver } from "../../../lib/domains/resolve.js";
import { silentLogger } from "../../../lib/log.js";
import { createNodeMap } from "../../../lib/nodes/node-map.js";
import type { PlaneDeps } from "../../../lib/planes/deps.js";
import { createSeedRegistryPlane } from "../../../lib/planes/registry/seed-registry-plane.js";
import { Code, ProxyError } from "../../../lib/pipeline/errors.js";
import type { CallContext } from "../../../lib/pipeline/context.js";
import type { MethodDescriptor, Upstream } from "../../../lib/pipeline/upstream.js";
import { FindNetworkServiceResponse, type NSERegistration } from "../../../generated/seed/registry.js";
import { ctx, errorOf, registration } from "./_support.js";
import { fakeClock } from "../../support/clock.js";

interface Call {
  kind: "unary" | "bidi";
  address: string;
  path: string;
  request: unknown;
  deadline: number | undefined;
}

function fakeUpstream(answer: (call: Call) => Observable<unknown>): Upstream & { calls: Call[] } {
  const calls: Call[] = [];
  const unary = <Req, Res>(address: string, method: MethodDescriptor<Req, Res>, request: Req, c: CallContext) => {
    const call: Call = { kind: "unary", address, path: method.path, request, deadline: c.deadline };
    calls.push(call);
    return answer(call) as Observable<Res>;
  };
  return {
    calls,
    unary,
    serverStream: unary,
    bidiStream: <Req, Res>(address: string, method: MethodDescriptor<Req, Res>, requests: Observable<Req>, c: CallContext) => {
      const call: Call = { kind: "bidi", address, path: method.path, request: requests, deadline: c.deadline };
      calls.push(call);
      return answer(call) as Observable<Res>;
    },
    close() {},
  };
}

const nodes = () =>
  createNodeMap([
    { name: "node-1", internalIP: "10.0.0.1", externalIP: "203.0.113.1" },
    { name: "node-2", internalIP: "10.0.0.2", externalIP: "203.0.113.2" },
  ]);

function plane(config: Partial<Config>, answer: (call: Call) => Observable<unknown>) {
  const upstream = fakeUpstream(answer);
  const deps = {
    config: { ...loadConfig({}), advertisedAddress: "proxy.example:5006", ...config },
    upstream,
    resolver: createDomainResolver(async () => {
      throw Object.assign(new Error("no DNS in unit tests"), { code: "ENOTFOUND" });
    }),
    nodes: nodes(),
    log: silentLogger,
  } as unknown as PlaneDeps;
  return { plane: createSeedRegistryPlane(deps, { bulkReconnect: { delayMs: 5, tries: 2 } }), upstream };
}

const remoteAnswer = FindNetworkServiceResponse.fromPartial({
  networkService: { name: "icmp", payload: "IP" },
  networkServiceManagers: {
    "node-1_203.0.113.1_5001": { name: "node-1_203.0.113.1_5001", url: "203.0.113.1:5001" },
    "r-node": { name: "r-node", url: "198.51.100.9:5001" },
  },
  networkServiceEndpoints: [
    { name: "nse-here", networkServiceName: "icmp", networkServiceManagerName: "node-1_203.0.113.1_5001" },
    { name: "nse-there", networkServiceName: "icmp", networkServiceManagerName: "r-node" },
  ],
});

test("Find service@host:port asks that registry for the bare service; answer localized, advertised, renamed back", async t => {
  const { plane: p, upstream } = plane({ nodeName: "node-1" }, () => of(remoteAnswer));
  const res = await firstValueFrom(p.findNetworkService({ networkServiceName: "icmp@198.51.100.9:5005" }, ctx()));
  t.like(upstream.calls[0], { kind: "unary", address: "198.51.100.9:5005", path: "/registry.NetworkServiceDiscovery/FindNetworkService", request: { networkServiceName: "icmp" } });
  t.true(typeof upstream.calls[0]?.deadline === "number", "the default deadline travels upstream");
  t.is(res.networkService?.name, "icmp@198.51.100.9:5005");
  t.deepEqual(
    Object.entries(res.networkServiceManagers).map(([k, n]) => [k, n.name, n.url]),
    [
      ["r-node", "r-node@198.51.100.9:5001", "proxy.example:5006"],
      ["node-1", "node-1", "203.0.113.1:5001"],
    ],
  );
  t.deepEqual(
    res.networkServiceEndpoints.map(e => e.networkServiceManagerName),
    ["node-1", "r-node"],
  );
});

test("Find service@IP uses the remote port", async t => {
  const { plane: p, upstream } = plane({ remotePort: 5005 }, () => of(remoteAnswer));
  await firstValueFrom(p.findNetworkService({ networkServiceName: "icmp@198.51.100.9" }, ctx()));
  t.is(upstream.calls[0]?.address, "198.51.100.9:5005");
});

test("Find of a plain name asks the local registry and gives external URLs", async t => {
  const local = FindNetworkServiceResponse.fromPartial({ networkServiceManagers: { "node-2": { name: "node-2", url: "10.0.0.2:5001" } } });
  const { plane: p, upstream } = plane({ localRegistryAddress: "127.0.0.1:5999" }, () => of(local));
  const res = await firstValueFrom(p.findNetworkService({ networkServiceName: "icmp" }, ctx()));
  t.like(upstream.calls[0], { address: "127.0.0.1:5999", request: { networkServiceName: "icmp" } });
  t.is(res.networkServiceManagers["node-2"]?.url, "203.0.113.2:5001");
});

test("Find of a plain name without a local registry is UNAVAILABLE naming PNSMGR_LOCAL_REGISTRY", async t => {
  const { plane: p, upstream } = plane({ localRegistryAddress: undefined }, () => of(remoteAnswer));
  const error = await errorOf(p.findNetworkService({ networkServiceName: "icmp" }, ctx()));
  t.is(error.code, Code.UNAVAILABLE);
  t.regex(error.message, /PNSMGR_LOCAL_REGISTRY/);
  t.is(upstream.calls.length, 0);
});

test.serial("Find that hangs upstream ends with DEADLINE_EXCEEDED at the caller's deadline", async t => {
  const clock = fakeClock(t);
  const { plane: p, upstream } = plane({}, () => NEVER);
  const at = Date.now() + 30;
  const failing = errorOf(p.findNetworkService({ networkServiceName: "icmp@198.51.100.9:5005" }, ctx().withDeadline(at)));
  await clock.tickAsync(30);
  const error = await clock.outcome(failing);
  t.is(error.code, Code.DEADLINE_EXCEEDED);
  t.is(upstream.calls[0]?.deadline, at, "the caller's deadline travels upstream");
});

test("RegisterNSE goes to NSMRS with the external URL; NSMRS's answer comes back", async t => {
  const { plane: p, upstream } = plane({ nsmrsAddress: "127.0.0.1:5010" }, call => of({ ...(call.request as NSERegistration), networkServiceManager: { name: "renamed", url: "x:1", state: "" } }));
  const res = await firstValueFrom(p.registerNSE(registration({ name: "node-1", url: "10.0.0.1:5001" }), ctx()));
  t.like(upstream.calls[0], { address: "127.0.0.1:5010", path: "/registry.NetworkServiceRegistry/RegisterNSE" });
  t.is((upstream.calls[0]?.request as NSERegistration).networkServiceManager?.url, "203.0.113.1:5001");
  t.is(res.networkServiceManager?.name, "renamed");
});

test("RegisterNSE and RemoveNSE without NSMRS are UNAVAILABLE naming NSMRS_ADDRESS; a bad registration is INVALID_ARGUMENT first", async t => {
  const { plane: p, upstream } = plane({ nsmrsAddress: undefined }, () => of({}));
  const reg = await errorOf(p.registerNSE(registration({ name: "node-1", url: "10.0.0.1:5001" }), ctx()));
  t.is(reg.code, Code.UNAVAILABLE);
  t.regex(reg.message, /NSMRS_ADDRESS/);
  const rm = await errorOf(p.removeNSE({ networkServiceEndpointName: "nse" }, ctx()));
  t.is(rm.code, Code.UNAVAILABLE);
  t.regex(rm.message, /NSMRS_ADDRESS/);
  t.is((await errorOf(p.registerNSE({}, ctx()))).code, Code.INVALID_ARGUMENT);
  t.is(upstream.calls.length, 0);
});

test("RemoveNSE is forwarded unchanged; NSMRS errors keep their code", async t => {
  const { plane: p, upstream } = plane({ nsmrsAddress: "127.0.0.1:5010" }, call =>
    (call.request as { networkServiceEndpointName: string }).networkServiceEndpointName === "gone" ? throwError(() => new ProxyError(Code.NOT_FOUND, "endpoint gone not found")) : of({}),
  );
  t.deepEqual(await firstValueFrom(p.removeNSE({ networkServiceEndpointName: "nse" }, ctx())), {});
  t.like(upstream.calls[0], { address: "127.0.0.1:5010", path: "/registry.NetworkServiceRegistry/RemoveNSE", request: { networkServiceEndpointName: "nse" } });
  t.is((await errorOf(p.removeNSE({ networkServiceEndpointName: "gone" }, ctx()))).code, Code.NOT_FOUND);
});

test("BulkRegisterNSE streams checked, swapped messages to NSMRS and relays its answers", async t => {
  const { plane: p, upstream } = plane({ nsmrsAddress: "127.0.0.1:5010" }, call => call.request as Observable<unknown>);
  const out = await lastValueFrom(
    p.bulkRegisterNSE(of(registration({ name: "node-1", url: "10.0.0.1:5001" }, "a"), registration({ name: "node-2", url: "10.0.0.2:5001" }, "b")), ctx()).pipe(toArray()),
  );
  t.like(upstream.calls[0], { kind: "bidi", address: "127.0.0.1:5010", path: "/registry.NetworkServiceRegistry/BulkRegisterNSE" });
  t.deepEqual(
    out.map(r => [r.networkServiceEndpoint?.name, r.networkServiceManager?.url]),
    [
      ["a", "203.0.113.1:5001"],
      ["b", "203.0.113.2:5001"],
    ],
  );
});

test("BulkRegisterNSE without NSMRS ends with UNAVAILABLE", async t => {
  const { plane: p } = plane({ nsmrsAddress: undefined }, () => of({}));
  const error = await errorOf(p.bulkRegisterNSE(of(registration({ name: "node-1", url: "10.0.0.1:5001" })), ctx()));
  t.is(error.code, Code.UNAVAILABLE);
  t.regex(error.message, /NSMRS_ADDRESS/);
});

test("GetNodeIPConfiguration answers from the node map", async t => {
  const { plane: p, upstream } = plane({}, () => of({}));
  t.deepEqual(await firstValueFrom(p.getNodeIPConfiguration({ nodeName: "", internalIP: "10.0.0.2", externalIP: "" }, ctx())), {
    nodeName: "node-2",
    internalIP: "10.0.0.2",
    externalIP: "203.0.113.2",
  });
  t.is(upstream.calls.length, 0);
});
