/**
 * The DNS cache against the fake DNS server on 127.0.0.1 (which answers with TTL 5 s and logs every
 * question): answers are reused for their TTL (A/AAAA) or the configured time (SRV), at most the
 * ceiling; concurrent questions share one query; failures are asked again; 0 turns it off. And the
 * SRV resolver, as the v1 registry plane builds it, asks DNS once for repeated lookups of a domain.
 */
import test from "ava";
import { closeFakeDns, startFakeDns } from "../../support/fake-dns.js";
import { createDnsCache, lookupVia, nodeDnsClient } from "../../../lib/domains/dns-cache.js";
import { createSrvResolver } from "../../../lib/domains/srv-resolve.js";

test.afterEach.always(() => closeFakeDns());

function clock() {
  let at = 1_000_000;
  return { now: () => at, advance: (ms: number) => (at += ms) };
}

test.serial("A/AAAA answers are kept for their TTL (5 s here), then asked again", async t => {
  const dns = await startFakeDns();
  dns.a("host.test", "192.0.2.1").aaaa("host.test", "2001:db8::1");
  const time = clock();
  const cache = createDnsCache(nodeDnsClient({ dnsServer: dns.address }), { srvTtlMs: 30_000, maxTtlMs: 30_000, now: time.now });
  t.deepEqual(await cache.resolve4("host.test"), ["192.0.2.1"]);
  t.deepEqual(await cache.resolve4("HOST.test"), ["192.0.2.1"]);
  t.deepEqual(await cache.resolve6("host.test"), ["2001:db8::1"]);
  time.advance(4_900);
  await cache.resolve4("host.test");
  t.deepEqual(dns.queries, ["A host.test", "AAAA host.test"]);
  time.advance(200);
  await cache.resolve4("host.test");
  t.deepEqual(dns.queries, ["A host.test", "AAAA host.test", "A host.test"]);
});

test.serial("the ceiling shortens every TTL; SRV answers are kept for srvTtlMs (node:dns gives no SRV TTL)", async t => {
  const dns = await startFakeDns();
  dns.a("host.test", "192.0.2.1").srv("registry.nsm-system.cluster2", "host.test", 5002);
  const time = clock();
  const cache = createDnsCache(nodeDnsClient({ dnsServer: dns.address }), { srvTtlMs: 10_000, maxTtlMs: 1_000, now: time.now });
  await cache.resolve4("host.test");
  await cache.resolveSrv("registry.nsm-system.cluster2");
  time.advance(1_001);
  await cache.resolve4("host.test");
  await cache.resolveSrv("registry.nsm-system.cluster2");
  t.deepEqual(dns.queries, ["A host.test", "SRV registry.nsm-system.cluster2", "A host.test", "SRV registry.nsm-system.cluster2"], "the ceiling applies to SRV too");
  const srvCache = createDnsCache(nodeDnsClient({ dnsServer: dns.address }), { srvTtlMs: 10_000, maxTtlMs: 30_000, now: time.now });
  await srvCache.resolveSrv("registry.nsm-system.cluster2");
  time.advance(10_001);
  await srvCache.resolveSrv("registry.nsm-system.cluster2");
  t.is(dns.queries.filter(q => q.startsWith("SRV")).length, 4);
});

test.serial("concurrent questions share one query; failures are not kept; 0 turns the cache off", async t => {
  const dns = await startFakeDns();
  dns.a("host.test", "192.0.2.1");
  const cache = createDnsCache(nodeDnsClient({ dnsServer: dns.address }), { srvTtlMs: 30_000, maxTtlMs: 30_000 });
  await Promise.all([cache.resolve4("host.test"), cache.resolve4("host.test"), cache.resolve4("host.test")]);
  t.is(dns.queries.length, 1);
  await t.throwsAsync(cache.resolve4("absent.test"), { code: "ENOTFOUND" });
  await t.throwsAsync(cache.resolve4("absent.test"), { code: "ENOTFOUND" });
  t.is(dns.queries.filter(q => q === "A absent.test").length, 2);
  const off = createDnsCache(nodeDnsClient({ dnsServer: dns.address }), { srvTtlMs: 0, maxTtlMs: 0 });
  await off.resolve4("host.test");
  await off.resolve4("host.test");
  t.is(dns.queries.filter(q => q === "A host.test").length, 3);
});

test.serial("lookupVia: every A and AAAA address of a name; ENOTFOUND when it has neither", async t => {
  const dns = await startFakeDns();
  dns.a("both.test", "192.0.2.1").a("both.test", "192.0.2.2").aaaa("both.test", "2001:db8::1").a("v4.test", "192.0.2.9");
  const lookup = lookupVia(createDnsCache(nodeDnsClient({ dnsServer: dns.address }), { srvTtlMs: 0, maxTtlMs: 0 }));
  t.deepEqual(await lookup("both.test"), ["192.0.2.1", "192.0.2.2", "2001:db8::1"]);
  t.deepEqual(await lookup("v4.test"), ["192.0.2.9"]);
  await t.throwsAsync(lookup("absent.test"), { code: "ENOTFOUND" });
});

test.serial("the SRV resolver asks DNS once for ten lookups of a domain (cached), every time without a cache", async t => {
  const dns = await startFakeDns();
  dns.srv("registry.nsm-system.cluster2", "registry.cluster2", 5002).a("registry.cluster2", "192.0.2.7");
  const cached = createSrvResolver({ dnsServer: dns.address, cacheTtlMs: 30_000 });
  for (let i = 0; i < 10; i++) t.is(await cached.resolve("registry.nsm-system", "cluster2"), "192.0.2.7:5002");
  t.deepEqual(dns.queries, ["SRV registry.nsm-system.cluster2", "A registry.cluster2"]);
  cached.close();
  const uncached = createSrvResolver({ dnsServer: dns.address, cacheTtlMs: 0 });
  for (let i = 0; i < 10; i++) await uncached.resolve("registry.nsm-system", "cluster2");
  t.is(dns.queries.length, 2 + 20);
  uncached.close();
});

test.serial("the SRV resolver shows every address of the target to vet, which can refuse it", async t => {
  const dns = await startFakeDns();
  dns.srv("registry.nsm-system.cluster2", "registry.cluster2", 5002).a("registry.cluster2", "192.0.2.7").a("registry.cluster2", "169.254.169.254");
  const seen: [string, number, readonly string[]][] = [];
  const resolver = createSrvResolver({
    dnsServer: dns.address,
    vet: (name, port, ips) => {
      seen.push([name, port, ips]);
      if (ips.includes("169.254.169.254")) throw new Error(`refused ${name}`);
    },
  });
  await t.throwsAsync(resolver.resolve("registry.nsm-system", "cluster2"), { message: /refused registry\.cluster2/ });
  t.deepEqual(seen, [["registry.cluster2", 5002, ["192.0.2.7", "169.254.169.254"]]]);
  resolver.close();
});
