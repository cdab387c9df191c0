/**
 * Domain resolution by SRV (lib/domains/srv-resolve.ts): record choice, the SRV target honoured, the
 * fall-back to the SRV name's own address, literals, and error codes. First against a scripted
 * DnsClient, then through node:dns against the fake DNS server on 127.0.0.1.
 */
import test from "ava";
import type { SrvRecord } from "node:dns";
import { type DnsClient, createSrvResolver, ipLiteral, pickSrv } from "../../../lib/domains/srv-resolve.js";
import { Code, ProxyError } from "../../../lib/pipeline/errors.js";
import { closeFakeDns, startFakeDns } from "../../support/fake-dns.js";

const fail = (code: string) => Promise.reject(Object.assign(new Error(`query failed ${code}`), { code }));

/** A DnsClient answering from tables; a name in no table is ENOTFOUND. */
function scripted(tables: { srv?: Record<string, SrvRecord[] | string>; a?: Record<string, string[] | string>; aaaa?: Record<string, string[]> }): DnsClient & { asked: string[] } {
  const asked: string[] = [];
  const answer = <T>(kind: string, table: Record<string, T[] | string> | undefined, name: string): Promise<T[]> => {
    asked.push(`${kind} ${name}`);
    const found = table?.[name];
    if (found === undefined) return fail("ENOTFOUND");
    if (typeof found === "string") return fail(found);
    return Promise.resolve(found);
  };
  return {
    asked,
    resolveSrv: name => answer("SRV", tables.srv, name),
    resolve4: name => answer("A", tables.a, name),
    resolve6: name => answer("AAAA", tables.aaaa, name),
    cancel() {},
  };
}

const srv = (name: string, port: number, priority = 0, weight = 0): SrvRecord => ({ name, port, priority, weight });

async function rejection(promise: Promise<unknown>): Promise<ProxyError> {
  try {
    await promise;
  } catch (error: unknown) {
    if (error instanceof ProxyError) return error;
    throw error;
  }
  throw new Error("expected a rejection");
}

test("pickSrv: the lowest priority wins whatever the answer order", t => {
  const records = [srv("b", 2, 20), srv("a", 1, 10), srv("c", 3, 30)];
  t.is(pickSrv(records, () => 0.99)?.name, "a");
});

test("pickSrv: within one priority the choice follows the weights", t => {
  const records = [srv("light", 1, 5, 10), srv("heavy", 2, 5, 90)];
  t.is(pickSrv(records, () => 0.05)?.name, "light");
  t.is(pickSrv(records, () => 0.5)?.name, "heavy");
  t.is(pickSrv([srv("zero", 1, 5, 0), srv("some", 2, 5, 1)], () => 0.5)?.name, "some");
  t.is(pickSrv([srv("x", 1, 5, 0), srv("y", 2, 5, 0)], () => 0.5)?.name, "x");
  t.is(pickSrv([]), undefined);
});

test("ipLiteral: ip:port and [v6]:port only", t => {
  t.is(ipLiteral("192.0.2.1:5002"), "192.0.2.1:5002");
  t.is(ipLiteral("[2001:db8::1]:5002"), "[2001:db8::1]:5002");
  t.is(ipLiteral("cluster2"), undefined);
  t.is(ipLiteral("example.org:5002"), undefined);
});

test("resolve: SRV port plus the A record of the SRV TARGET (not of the SRV name)", async t => {
  const dns = scripted({
    srv: { "registry.nsm-system.cluster2": [srv("reg-lb.cluster2.example", 5002)] },
    a: { "reg-lb.cluster2.example": ["192.0.2.10"], "registry.nsm-system.cluster2": ["198.51.100.99"] },
  });
  t.is(await createSrvResolver({ dns }).resolve("registry.nsm-system", "cluster2"), "192.0.2.10:5002");
  t.deepEqual(dns.asked, ["SRV registry.nsm-system.cluster2", "A reg-lb.cluster2.example"]);
});

test("resolve: a target with only AAAA gives a bracketed IPv6 address", async t => {
  const dns = scripted({ srv: { "registry.nsm-system.v6": [srv("reg.v6.", 5002)] }, a: { "reg.v6": "ENODATA" }, aaaa: { "reg.v6": ["2001:db8::7"] } });
  t.is(await createSrvResolver({ dns }).resolve("registry.nsm-system", "v6"), "[2001:db8::7]:5002");
});

test("resolve: a target without an address falls back to the SRV name's own A record (the Go SDK's lookup)", async t => {
  const dns = scripted({ srv: { "registry.nsm-system.old": [srv("pod-0.internal", 5002)] }, a: { "registry.nsm-system.old": ["192.0.2.44"] } });
  t.is(await createSrvResolver({ dns }).resolve("registry.nsm-system", "old"), "192.0.2.44:5002");
});

test("resolve: when neither the target nor the SRV name has an address it is NOT_FOUND naming the domain and the target", async t => {
  const dns = scripted({ srv: { "registry.nsm-system.dark": [srv("pod-0.internal", 5002)] } });
  const error = await rejection(createSrvResolver({ dns }).resolve("registry.nsm-system", "dark"));
  t.is(error.code, Code.NOT_FOUND);
  t.regex(error.message, /domain "dark".*pod-0\.internal/);
});

test("resolve: a target that times out is UNAVAILABLE and is not papered over by the fall-back", async t => {
  const dns = scripted({ srv: { "registry.nsm-system.slow": [srv("reg.slow", 5002)] }, a: { "reg.slow": "ETIMEOUT", "registry.nsm-system.slow": ["192.0.2.1"] } });
  const error = await rejection(createSrvResolver({ dns }).resolve("registry.nsm-system", "slow"));
  t.is(error.code, Code.UNAVAILABLE);
  t.regex(error.message, /domain "slow"/);
});

test("resolve: no SRV record is NOT_FOUND with the domain and the SRV name", async t => {
  const error = await rejection(createSrvResolver({ dns: scripted({}) }).resolve("registry.nsm-system", "nowhere"));
  t.is(error.code, Code.NOT_FOUND);
  t.regex(error.message, /domain "nowhere".*SRV registry\.nsm-system\.nowhere/);
});

test("resolve: an empty SRV answer and a '.' target are NOT_FOUND", async t => {
  const empty = scripted({ srv: { "registry.nsm-system.empty": [] } });
  t.is((await rejection(createSrvResolver({ dns: empty }).resolve("registry.nsm-system", "empty"))).code, Code.NOT_FOUND);
  const dot = scripted({ srv: { "registry.nsm-system.off": [srv(".", 0)] } });
  const error = await rejection(createSrvResolver({ dns: dot }).resolve("registry.nsm-system", "off"));
  t.is(error.code, Code.NOT_FOUND);
  t.regex(error.message, /not offered/);
});

test("resolve: resolver trouble on the SRV query is UNAVAILABLE", async t => {
  const dns = scripted({ srv: { "registry.nsm-system.broken": "ESERVFAIL" } });
  const error = await rejection(createSrvResolver({ dns }).resolve("registry.nsm-system", "broken"));
  t.is(error.code, Code.UNAVAILABLE);
  t.regex(error.message, /domain "broken"/);
});

test("resolve: an ip:port domain is used as it is, without any lookup", async t => {
  const dns = scripted({});
  const resolver = createSrvResolver({ dns });
  t.is(await resolver.resolve("registry.nsm-system", "127.0.0.1:5002"), "127.0.0.1:5002");
  t.is(await resolver.resolve("nsmgr-proxy.nsm-system", "[::1]:5004"), "[::1]:5004");
  t.deepEqual(dns.asked, []);
});

for (const domain of ["10.0.0.1", "bad domain", "host:name:1", "a..b"]) {
  test(`resolve: "${domain}" is INVALID_ARGUMENT without any lookup`, async t => {
    const dns = scripted({});
    const error = await rejection(createSrvResolver({ dns }).resolve("registry.nsm-system", domain));
    t.is(error.code, Code.INVALID_ARGUMENT);
    t.deepEqual(dns.asked, []);
  });
}

test("an SRV target that is an IP address is used directly", async t => {
  const dns = scripted({ srv: { "registry.nsm-system.ip": [srv("192.0.2.8", 5002)] } });
  t.is(await createSrvResolver({ dns }).resolve("registry.nsm-system", "ip"), "192.0.2.8:5002");
});

// through node:dns and a real (fake) DNS server on 127.0.0.1 -------------------------------------------
test.afterEach.always(() => closeFakeDns());

test.serial("node:dns against the fake DNS server: SRV target honoured, priority respected", async t => {
  const server = await startFakeDns();
  server
    .srv("registry.nsm-system.cluster2", "backup.cluster2", 6000, { priority: 20 })
    .srv("registry.nsm-system.cluster2", "reg.cluster2", 5002, { priority: 10 })
    .a("reg.cluster2", "127.0.0.2")
    .a("backup.cluster2", "127.0.0.3")
    .a("registry.nsm-system.cluster2", "127.0.0.9");
  const resolver = createSrvResolver({ dnsServer: server.address, timeoutMs: 500, tries: 1 });
  t.is(await resolver.resolve("registry.nsm-system", "cluster2"), "127.0.0.2:5002");
  t.deepEqual(server.queries, ["SRV registry.nsm-system.cluster2", "A reg.cluster2"]);
  resolver.close();
});

test.serial("node:dns against the fake DNS server: NXDOMAIN is NOT_FOUND, SERVFAIL is UNAVAILABLE", async t => {
  const server = await startFakeDns();
  server.fail("registry.nsm-system.sick");
  const resolver = createSrvResolver({ dnsServer: server.address, timeoutMs: 500, tries: 1 });
  t.is((await rejection(resolver.resolve("registry.nsm-system", "absent"))).code, Code.NOT_FOUND);
  t.is((await rejection(resolver.resolve("registry.nsm-system", "sick"))).code, Code.UNAVAILABLE);
  resolver.close();
});

test("a DNS server given by name (node:dns needs an IP) fails at creation with a clear message", t => {
  const error = t.throws(() => createSrvResolver({ dnsServer: "kube-dns.kube-system:53" }));
  t.regex(error?.message ?? "", /DNS server "kube-dns\.kube-system:53" must be an IP address/);
});
