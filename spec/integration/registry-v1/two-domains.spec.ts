/**
 * The v1 registry plane over real gRPC: two domains, each a fake v1 registry behind a real pnsmgr
 * gateway, found through a real (fake) DNS server on 127.0.0.1. Proxy 1 resolves domain "cluster2" by
 * SRV and calls registry 2 directly, as registry-proxy-dns did.
 */
import test, { type ExecutionContext } from "ava";
import { status } from "@grpc/grpc-js";
import { callError, callUnary, closeAll, openServerStream } from "../../support/grpc.js";
import { waitFor } from "../../support/wait.js";
import type { Config } from "../../../lib/config.js";
import { type SandboxBuilder, sandbox } from "../../support/sandbox.js";
import { timestamp } from "../../support/fake-v1-registry.js";
import {
  NetworkService,
  NetworkServiceEndpoint,
  NetworkServiceEndpointRegistryService as NSE,
  NetworkServiceRegistryService as NS,
} from "../../../generated/nsm/registry.js";

test.afterEach.always(async () => {
  await closeAll();
});

/** Two domains with a registry each; cluster2 published in DNS. `proxy1Overrides`: e.g. registryStaleForMs 0 for the behaviour without restart tolerance. */
async function twoDomains(t: ExecutionContext, proxy1Overrides: Partial<Config> = {}, more: (world: SandboxBuilder) => SandboxBuilder = w => w) {
  const world = await more(
    sandbox(t)
      .domain("cluster2", d => d.registry().gateway({ name: "proxy2" }).published())
      .domain("cluster1", d => d.registry().gateway({ name: "proxy1", ...proxy1Overrides })),
  ).build();
  // the SRV targets (registry-lb.cluster2.test, proxy-lb.cluster2.test) are other names than the SRV names: pnsmgr must look up the target
  const [one, two] = [world.domain("cluster1"), world.domain("cluster2")];
  return { world, dns: world.dns, registry1: one.registry, registry2: two.registry, proxy1: one.gateway, proxy2: two.gateway, proxy1Url: one.url, proxy2Port: two.port };
}

const ns = (name: string) => NetworkService.fromPartial({ name, payload: "ETHERNET" });

test.serial("NS Register, Find and Unregister of ns@cluster2 through proxy 1 reach registry 2 as ns and answer as ns@cluster2", async t => {
  const { proxy1, registry1, registry2, dns } = await twoDomains(t);
  const registered = await callUnary(proxy1.v1Address, NS.register, ns("icmp@cluster2"));
  t.is(registered.name, "icmp@cluster2");
  t.deepEqual([...registry2.nss.keys()], ["icmp"]);

  const find = openServerStream(proxy1.v1Address, NS.find, { networkService: ns("icmp@cluster2"), watch: false });
  t.is((await find.next()).networkService?.name, "icmp@cluster2");
  t.is((await find.status).code, status.OK);

  await callUnary(proxy1.v1Address, NS.unregister, ns("icmp@cluster2"));
  t.is(registry2.nss.size, 0);
  t.is(registry1.calls.length, 0, "the local registry is not involved");
  t.true(dns.queries.includes("A registry-lb.cluster2.test"), "the SRV target was looked up");
  t.false(dns.queries.includes("A registry.nsm-system.cluster2"), "the SRV name itself was not");
});

test.serial("NSE Find by ns@cluster2: names re-suffixed, url = proxy 1, registration times kept exactly", async t => {
  const { proxy1, registry2, proxy1Url } = await twoDomains(t);
  const expirationTime = timestamp(Date.now() + 3_600_123);
  const initialRegistrationTime = timestamp(Date.now() - 5_000);
  registry2.putNse(
    NetworkServiceEndpoint.fromPartial({
      name: "nse-1",
      networkServiceNames: ["icmp"],
      networkServiceLabels: { icmp: { labels: { app: "pinger" } } },
      url: "tcp://10.244.1.5:5001",
      expirationTime,
      initialRegistrationTime,
    }),
  );
  const find = openServerStream(proxy1.v1Address, NSE.find, { networkServiceEndpoint: NetworkServiceEndpoint.fromPartial({ networkServiceNames: ["icmp@cluster2"] }), watch: false });
  const found = (await find.next()).networkServiceEndpoint;
  t.is((await find.status).code, status.OK);
  t.like(found, {
    name: "nse-1@cluster2",
    networkServiceNames: ["icmp@cluster2"],
    networkServiceLabels: { "icmp@cluster2": { labels: { app: "pinger" } } },
    url: proxy1Url,
    expirationTime,
    initialRegistrationTime,
  });
  t.deepEqual((registry2.callsOf("nse.find")[0]?.request as { networkServiceEndpoint: NetworkServiceEndpoint }).networkServiceEndpoint.networkServiceNames, ["icmp"]);
});

test.serial("NSE watch through proxy 1 relays later registrations and deletions; cancelling ends registry 2's watch", async t => {
  const { proxy1, registry2, proxy1Url } = await twoDomains(t);
  registry2.putNse(NetworkServiceEndpoint.fromPartial({ name: "nse-1", networkServiceNames: ["icmp"], url: "tcp://10.244.1.5:5001" }));
  const watch = openServerStream(proxy1.v1Address, NSE.find, {
    networkServiceEndpoint: NetworkServiceEndpoint.fromPartial({ networkServiceNames: ["icmp@cluster2"] }),
    watch: true,
  });
  t.like(await watch.next(), { networkServiceEndpoint: { name: "nse-1@cluster2", url: proxy1Url }, deleted: false });
  await waitFor(() => registry2.openWatches() === 1, 2000, "registry 2's watch");

  registry2.putNse(NetworkServiceEndpoint.fromPartial({ name: "nse-2", networkServiceNames: ["icmp"], url: "tcp://10.244.1.6:5001" }));
  t.like(await watch.next(), { networkServiceEndpoint: { name: "nse-2@cluster2", networkServiceNames: ["icmp@cluster2"], url: proxy1Url }, deleted: false });
  registry2.deleteNse("nse-1");
  t.like(await watch.next(), { networkServiceEndpoint: { name: "nse-1@cluster2", url: proxy1Url }, deleted: true });

  watch.cancel();
  await waitFor(() => registry2.openWatches() === 0, 2000, "registry 2's watch to be cancelled");
  t.is((await watch.status).code, status.CANCELLED);
});

test.serial("NS watch without restart tolerance (PNSMGR_REGISTRY_STALE_FOR=0): when registry 2 dies the client's stream ends UNAVAILABLE, not OK", async t => {
  const { proxy1, registry2 } = await twoDomains(t, { registryStaleForMs: 0 });
  registry2.putNs(ns("icmp"));
  const watch = openServerStream(proxy1.v1Address, NS.find, { networkService: ns("icmp@cluster2"), watch: true }, { deadlineMs: 8000 });
  t.is((await watch.next()).networkService?.name, "icmp@cluster2");
  await waitFor(() => registry2.openWatches() === 1, 2000, "registry 2's watch");
  registry2.deleteNs("icmp");
  t.like(await watch.next(), { networkService: { name: "icmp@cluster2" }, deleted: true });
  registry2.kill();
  const end = await watch.status;
  t.is(end.code, status.UNAVAILABLE);
});

test.serial("without restart tolerance (PNSMGR_REGISTRY_STALE_FOR=0) a watch that registry 2 ends with OK ends UNAVAILABLE at the client", async t => {
  const { proxy1, registry2 } = await twoDomains(t, { registryStaleForMs: 0 });
  const watch = openServerStream(proxy1.v1Address, NS.find, { networkService: ns("icmp@cluster2"), watch: true }, { deadlineMs: 8000 });
  await waitFor(() => registry2.openWatches() === 1, 2000, "registry 2's watch");
  registry2.endWatches();
  const end = await watch.status;
  t.is(end.code, status.UNAVAILABLE);
  t.regex(end.details, /ended the watch/);
});

test.serial("plain names go to the local registry untouched; an ip:port domain is dialled without DNS", async t => {
  const { proxy1, registry1, registry2, dns } = await twoDomains(t);
  await callUnary(proxy1.v1Address, NS.register, ns("local-svc"));
  t.deepEqual([...registry1.nss.keys()], ["local-svc"]);
  const local = NetworkServiceEndpoint.fromPartial({ name: "nse-local", networkServiceNames: ["local-svc"], url: "tcp://10.244.0.9:5001" });
  t.is((await callUnary(proxy1.v1Address, NSE.register, local)).url, "tcp://10.244.0.9:5001");
  t.is(registry1.nses.get("nse-local")?.url, "tcp://10.244.0.9:5001");

  const queriesBefore = dns.queries.length;
  await callUnary(proxy1.v1Address, NS.register, ns(`literal@127.0.0.1:${registry2.port}`));
  t.true(registry2.nss.has("literal"));
  t.is(dns.queries.length, queriesBefore);
});

test.serial("one port per domain: a domain whose registry SRV names pnsmgr is served through it to its registry", async t => {
  const { proxy1, registry2, dns, proxy2Port } = await twoDomains(t);
  dns.srv("registry.nsm-system.edge2", "pnsmgr.edge2.test", proxy2Port).a("pnsmgr.edge2.test", "127.0.0.1");
  registry2.putNs(ns("icmp"));
  const find = openServerStream(proxy1.v1Address, NS.find, { networkService: ns("icmp@edge2"), watch: false });
  t.is((await find.next()).networkService?.name, "icmp@edge2");
  t.is((await find.status).code, status.OK);
});

test.serial("DNS failures: no such domain is NOT_FOUND, a failing DNS server UNAVAILABLE; both name the domain", async t => {
  const { proxy1, dns } = await twoDomains(t);
  const missing = await callError(proxy1.v1Address, NS.register, ns("icmp@nowhere"));
  t.is(missing.code, status.NOT_FOUND);
  t.regex(missing.details, /domain "nowhere"/);
  dns.fail("registry.nsm-system.sick");
  const sick = await callError(proxy1.v1Address, NSE.unregister, NetworkServiceEndpoint.fromPartial({ name: "nse@sick" }));
  t.is(sick.code, status.UNAVAILABLE);
  t.regex(sick.details, /domain "sick"/);
  const find = openServerStream(proxy1.v1Address, NSE.find, { networkServiceEndpoint: NetworkServiceEndpoint.fromPartial({ name: "nse@nowhere" }), watch: true });
  const end = await find.status;
  t.is(end.code, status.NOT_FOUND);
});

test.serial("malformed calls are INVALID_ARGUMENT and reach no registry", async t => {
  const { proxy1, registry1, registry2 } = await twoDomains(t);
  const cases: [string, Promise<{ code: number; details: string }>][] = [
    ["NS without name", callError(proxy1.v1Address, NS.register, ns(""))],
    ["NS icmp@", callError(proxy1.v1Address, NS.unregister, ns("icmp@"))],
    ["NSE without name", callError(proxy1.v1Address, NSE.register, NetworkServiceEndpoint.fromPartial({ networkServiceNames: ["icmp@cluster2"] }))],
    ["NSE naming two domains", callError(proxy1.v1Address, NSE.register, NetworkServiceEndpoint.fromPartial({ name: "a@cluster2", networkServiceNames: ["b@cluster3"] }))],
    ["domain that is a bare IP", callError(proxy1.v1Address, NS.register, ns("icmp@10.0.0.1"))],
  ];
  for (const [what, call] of cases) t.is((await call).code, status.INVALID_ARGUMENT, what);
  const noQuery = openServerStream(proxy1.v1Address, NSE.find, { watch: false });
  t.is((await noQuery.status).code, status.INVALID_ARGUMENT);
  t.is(registry1.calls.length + registry2.calls.length, 0);
});

test.serial("path metadata and the caller's token reach registry 2 unchanged; a malformed path is INVALID_ARGUMENT", async t => {
  const { proxy1, registry2 } = await twoDomains(t);
  const path = JSON.stringify({ Index: 1, PathSegments: [{ token: "nsmgr1-token" }, { token: "registry1-token" }] });
  const metadata = { path, "nsm-client-token": "registry1-token", "nsm-client-token-expires": "2031-01-01T00:00:00Z" };
  await callUnary(proxy1.v1Address, NSE.register, NetworkServiceEndpoint.fromPartial({ name: "nse@cluster2", url: "tcp://10.0.1.1:5001", pathIds: ["id-0", "id-1"] }), { metadata });
  const call = registry2.callsOf("nse.register")[0];
  t.like(call?.metadata, metadata);
  t.deepEqual((call?.request as NetworkServiceEndpoint).pathIds, ["id-0", "id-1"]);
  const bad = await callError(proxy1.v1Address, NS.register, ns("icmp@cluster2"), { metadata: { path: "{not json" } });
  t.is(bad.code, status.INVALID_ARGUMENT);
  t.is(registry2.callsOf("ns.register").length, 0);
});

test.serial("registry 2's error codes reach the client", async t => {
  const { proxy1, registry2 } = await twoDomains(t);
  registry2.failNext("ns.register", status.PERMISSION_DENIED, "client_allowed says no");
  const error = await callError(proxy1.v1Address, NS.register, ns("icmp@cluster2"));
  t.is(error.code, status.PERMISSION_DENIED);
  t.regex(error.details, /client_allowed says no/);
});

test.serial("DNS answers are cached for their TTL: 20 NSE Finds of ns@cluster2 ask DNS once per name, not once per Find", async t => {
  const queriesFor = async (overrides: { dnsCacheTtlMs: number }) => {
    const { world, dns, registry2 } = await twoDomains(t, {}, w => w.domain("cache", d => d.gateway({ name: "proxy-cache", ...overrides })));
    const proxy = world.domain("cache").gateway;
    registry2.putNse(NetworkServiceEndpoint.fromPartial({ name: "nse-1", networkServiceNames: ["icmp"], url: "tcp://10.244.1.5:5001" }));
    const before = dns.queries.length;
    for (let i = 0; i < 20; i++) {
      const find = openServerStream(proxy.v1Address, NSE.find, { networkServiceEndpoint: NetworkServiceEndpoint.fromPartial({ networkServiceNames: ["icmp@cluster2"] }), watch: false });
      t.is((await find.status).code, status.OK);
    }
    const asked = dns.queries.slice(before);
    await world.stop();
    return asked;
  };
  const cached = await queriesFor({ dnsCacheTtlMs: 30_000 });
  const uncached = await queriesFor({ dnsCacheTtlMs: 0 });
  t.log(`20 Finds: ${cached.length} DNS queries with the cache (${(cached.length / 20).toFixed(2)} per Find), ${uncached.length} without (${(uncached.length / 20).toFixed(2)} per Find)`);
  t.deepEqual([...new Set(cached)].sort(), [...cached].sort(), "each question asked once");
  t.true(uncached.length >= 20 * 2, "without the cache every Find asks again");
});
