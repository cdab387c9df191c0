/**
 * The assembled v1 registry plane with a scripted Upstream and resolver: which registry each call
 * reaches and in what shape, what comes back, and which routes are learned - the chain order of
 * v1-registry-plane.ts as a whole.
 */
import test from "ava";
import { Observable, of, throwError } from "rxjs";
import type { CallContext } from "../../../lib/pipeline/context.js";
import { Code, ProxyError } from "../../../lib/pipeline/errors.js";
import { type MethodDescriptor, type Upstream, outgoingMetadata } from "../../../lib/pipeline/upstream.js";
import { createMemoryEventLog } from "../../../lib/state/memory/event-log.js";
import { unusedFeeds } from "../../support/unused-feeds.js";
import type { PlaneDeps } from "../../../lib/planes/deps.js";
import { createV1RegistryPlane } from "../../../lib/planes/registry/v1/v1-registry-plane.js";
import { createDomainResolver } from "../../../lib/domains/resolve.js";
import { createNodeMap } from "../../../lib/nodes/node-map.js";
import { createIpMap } from "../../../lib/nodes/ip-map.js";
import { silentLogger } from "../../../lib/log.js";
import { createMemoryConnectionStore, createMemoryRouteStore } from "../../../lib/state/memory/records.js";
import { createRemoteClusterInfo } from "../../../lib/domains/remote-cluster-info.js";
import type { Config } from "../../../lib/config.js";
import { testConfig } from "../../support/gateway.js";
import { NetworkService, type NetworkServiceEndpoint, type NetworkServiceEndpointResponse } from "../../../generated/nsm/registry.js";
import { all, ctx, errorOf, first, nse, tableResolver } from "./_support.js";

interface Sent {
  address: string;
  path: string;
  request: unknown;
  metadata: Record<string, string>;
}

/** An Upstream that records each call and answers with `answer(path, request)`. */
function scriptedUpstream(answer: (path: string, request: unknown) => Observable<unknown>): Upstream & { sent: Sent[] } {
  const sent: Sent[] = [];
  const call = <Req, Res>(address: string, method: MethodDescriptor<Req, Res>, request: Req, c: CallContext) => {
    sent.push({ address, path: method.path, request, metadata: Object.fromEntries(c.get(outgoingMetadata) ?? []) });
    return answer(method.path, request) as Observable<Res>;
  };
  return { sent, unary: call, serverStream: call, bidiStream: () => throwError(() => new Error("no bidi here")), close() {} };
}

const PUBLIC_URL = "tcp://10.10.0.1:5004";

function plane(answer: (path: string, request: unknown) => Observable<unknown>, config: Partial<Config> = {}) {
  const upstream = scriptedUpstream(answer);
  const routes = createMemoryRouteStore();
  const deps: PlaneDeps = {
    config: testConfig({ registryUrl: "tcp://127.0.0.1:7001", ...config }),
    upstream,
    resolver: createDomainResolver(async () => "127.0.0.1"),
    nodes: createNodeMap(),
    log: silentLogger,
    connections: createMemoryConnectionStore(),
    remoteClusterInfo: createRemoteClusterInfo(upstream, 80, silentLogger),
    routes,
    ipMap: createIpMap([
      ["10.10.0.1", "203.0.113.1"], // this proxy's pod IP -> node IP
      ["10.20.0.1", "198.51.100.20"], // domain 2's proxy, as DNS names it -> reachable IP
    ]),
    clusterInfo: { clusterName: "cluster-2" },
    publicUrl: PUBLIC_URL,
    events: createMemoryEventLog(),
    ...unusedFeeds(),
  };
  const resolver = tableResolver({
    "registry.nsm-system.cluster2": "127.0.0.1:7002",
    "nsmgr-proxy.nsm-system.cluster2": "10.20.0.1:5004",
    "registry.nsm-system.floating.example": "127.0.0.1:7003",
  });
  return { v1: createV1RegistryPlane(deps, { resolver }), upstream, routes, resolver };
}

const path = JSON.stringify({ Index: 1, PathSegments: [{ token: "nsmgr" }, { token: "registry" }] });
const withPath = (method: string) => ctx(method, { path, "nsm-client-token": "tok", "nsm-client-token-expires": "2031-01-01T00:00:00Z" });

test("NSE Find ns@cluster2: asks registry 2 by SRV, answers re-suffixed with this proxy's url; learns the mapped proxy 2 url", async t => {
  const expirationTime = { seconds: "1900000000", nanos: 1 };
  const { v1, upstream, routes } = plane(() =>
    of<NetworkServiceEndpointResponse>({
      networkServiceEndpoint: nse({ name: "nse-1", networkServiceNames: ["ns"], networkServiceLabels: { ns: { labels: { app: "a" } } }, url: "tcp://10.2.2.2:5001", expirationTime }),
      deleted: false,
    }),
  );
  const out = await all(v1.nseFind({ networkServiceEndpoint: nse({ networkServiceNames: ["ns@cluster2"] }), watch: false }, withPath("/registry.NetworkServiceEndpointRegistry/Find")));
  t.is(upstream.sent.length, 1);
  t.like(upstream.sent[0], { address: "127.0.0.1:7002", path: "/registry.NetworkServiceEndpointRegistry/Find" });
  t.deepEqual((upstream.sent[0]?.request as { networkServiceEndpoint: NetworkServiceEndpoint }).networkServiceEndpoint.networkServiceNames, ["ns"]);
  t.deepEqual(out, [
    {
      networkServiceEndpoint: nse({
        name: "nse-1@cluster2",
        networkServiceNames: ["ns@cluster2"],
        networkServiceLabels: { "ns@cluster2": { labels: { app: "a" } } },
        url: PUBLIC_URL,
        expirationTime,
      }),
      deleted: false,
    },
  ]);
  t.is(await routes.get("nse-1@cluster2"), "tcp://198.51.100.20:5004");
});

test("NSE Register nse@floating.example: published with this proxy's mapped url and cluster labels, stripped; answered with the NSMgr's url", async t => {
  const { v1, upstream, routes } = plane((p, request) =>
    p.endsWith("/Find")
      ? of({ networkServiceEndpoint: nse({ name: "pod", url: "tcp://203.0.113.1:5004" }), deleted: false })
      : of({ ...(request as NetworkServiceEndpoint), expirationTime: { seconds: "42", nanos: 0 } }),
  );
  const registered = nse({
    name: "pod@floating.example",
    networkServiceNames: ["ns@floating.example"],
    networkServiceLabels: { "ns@floating.example": { labels: { app: "a" } } },
    url: "tcp://10.2.0.7:5001",
    pathIds: ["id-nsmgr", "id-registry"],
  });
  const answer = await first(v1.nseRegister(registered, withPath("/registry.NetworkServiceEndpointRegistry/Register")));
  t.like(upstream.sent[0], { address: "127.0.0.1:7003", path: "/registry.NetworkServiceEndpointRegistry/Register" });
  t.deepEqual(upstream.sent[0]?.request, {
    ...registered,
    name: "pod",
    networkServiceNames: ["ns"],
    networkServiceLabels: { ns: { labels: { app: "a", clusterName: "cluster-2" } } },
    url: "tcp://203.0.113.1:5004",
  });
  t.deepEqual(upstream.sent[0]?.metadata, { path, "nsm-client-token": "tok", "nsm-client-token-expires": "2031-01-01T00:00:00Z" });
  t.like(answer, { name: "pod@floating.example", networkServiceNames: ["ns@floating.example"], url: "tcp://10.2.0.7:5001", expirationTime: { seconds: "42", nanos: 0 } });
  t.is(await routes.get("pod@floating.example"), "tcp://10.2.0.7:5001");

  // finding it back through this proxy (no proxy SRV for the floating domain: the published url stays)
  // must not replace the route with this proxy's own mapped url, or Requests would loop back here
  const found = await all(v1.nseFind({ networkServiceEndpoint: nse({ name: "pod@floating.example" }), watch: false }, ctx()));
  t.is(found[0]?.networkServiceEndpoint?.url, PUBLIC_URL);
  t.is(await routes.get("pod@floating.example"), "tcp://10.2.0.7:5001");
});

test("NSE Unregister nse@floating.example: sent stripped with this proxy's url, route forgotten", async t => {
  const { v1, upstream, routes } = plane(() => of({}));
  await routes.set("pod@floating.example", "tcp://10.2.0.7:5001");
  await first(v1.nseUnregister(nse({ name: "pod@floating.example", url: "tcp://10.2.0.7:5001" }), ctx("/registry.NetworkServiceEndpointRegistry/Unregister")));
  t.like(upstream.sent[0]?.request, { name: "pod", url: "tcp://203.0.113.1:5004" });
  t.is(await routes.get("pod@floating.example"), undefined);
});

test("NS Register/Unregister/Find ns@cluster2 reach registry 2 as ns and come back as ns@cluster2", async t => {
  const { v1, upstream } = plane((p, request) =>
    p.endsWith("/Find") ? of({ networkService: NetworkService.fromPartial({ name: "ns" }), deleted: true }) : of(p.endsWith("/Register") ? request : {}),
  );
  const ns = NetworkService.fromPartial({ name: "ns@cluster2", payload: "IP" });
  t.is((await first(v1.nsRegister(ns, ctx("/registry.NetworkServiceRegistry/Register")))).name, "ns@cluster2");
  t.deepEqual(await first(v1.nsUnregister(ns, ctx("/registry.NetworkServiceRegistry/Unregister"))), {});
  const found = await all(v1.nsFind({ networkService: ns, watch: false }, ctx("/registry.NetworkServiceRegistry/Find")));
  t.deepEqual(found.map(r => [r.networkService?.name, r.deleted]), [["ns@cluster2", true]]);
  t.deepEqual(
    upstream.sent.map(s => [s.address, (s.request as { name?: string; networkService?: { name: string } }).name ?? (s.request as { networkService: { name: string } }).networkService.name]),
    [["127.0.0.1:7002", "ns"], ["127.0.0.1:7002", "ns"], ["127.0.0.1:7002", "ns"]],
  );
});

test("plain names go to the local registry untouched, path metadata included", async t => {
  const { v1, upstream, routes, resolver } = plane((_p, request) => of(request));
  const local = nse({ name: "nse-local", networkServiceNames: ["ns"], url: "tcp://10.2.0.7:5001" });
  t.deepEqual(await first(v1.nseRegister(local, withPath("/registry.NetworkServiceEndpointRegistry/Register"))), local);
  t.like(upstream.sent[0], { address: "127.0.0.1:7001", request: local });
  t.is(upstream.sent[0]?.metadata.path, path);
  t.is(await routes.get("nse-local"), undefined);
  t.deepEqual(resolver.asked, []);
});

test("plain names without NSM_REGISTRY_URL are UNAVAILABLE naming the variable", async t => {
  const { v1, upstream } = plane(() => of({}), { registryUrl: undefined });
  const error = await errorOf(v1.nsRegister(NetworkService.fromPartial({ name: "ns" }), ctx("/registry.NetworkServiceRegistry/Register")));
  t.is(error.code, Code.UNAVAILABLE);
  t.regex(error.message, /NSM_REGISTRY_URL/);
  t.is(upstream.sent.length, 0);
});

test("a domain that does not resolve is NOT_FOUND naming it; nothing is dialled", async t => {
  const { v1, upstream } = plane(() => of({}));
  const error = await errorOf(v1.nseFind({ networkServiceEndpoint: nse({ name: "nse@nowhere" }), watch: true }, ctx()));
  t.is(error.code, Code.NOT_FOUND);
  t.regex(error.message, /"nowhere"/);
  t.is(upstream.sent.length, 0);
});

test("upstream error codes are kept", async t => {
  const { v1 } = plane(() => throwError(() => new ProxyError(Code.PERMISSION_DENIED, "policy says no")));
  const error = await errorOf(v1.nseRegister(nse({ name: "pod@floating.example", url: "tcp://10.2.0.7:5001" }), ctx()));
  t.is(error.code, Code.PERMISSION_DENIED);
  t.regex(error.message, /floating\.example.*policy says no/);
});

