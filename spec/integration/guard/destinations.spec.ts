/**
 * The destination guard from outside: hostile destination spellings through every place a caller or a
 * registry controls where pnsmgr dials (seed path segment `nsmgr@host:port`, seed Find `svc@domain`
 * with and without a port, v1 NSE URLs from the registry, learned routes, v1 registry domains as
 * ip:port, SRV targets, seed monitor selectors), against a gateway with the default rules. Every
 * call must be refused with INVALID_ARGUMENT (non-canonical spelling) or PERMISSION_DENIED naming the
 * destination and the rule, and a canary listener on the loopback port they all name must see no
 * connection. Names resolve through the fake DNS (PNSMGR_DNS_SERVER). Nothing but loopback is dialled.
 */
import test from "ava";
import { type Server, type Socket, createServer } from "node:net";
import { status } from "@grpc/grpc-js";
import { NetworkServiceService } from "../../../generated/nsm/networkservice.js";
import { MonitorConnectionService } from "../../../generated/nsm/connection.js";
import { NetworkServiceDiscoveryService } from "../../../generated/seed/registry.js";
import { NetworkServiceEndpointRegistryService } from "../../../generated/nsm/registry.js";
import type { Gateway } from "../../../lib/gateway.js";
import { startTestGateway, stopGateways } from "../../support/gateway.js";
import { type FakeDns, closeFakeDns, startFakeDns } from "../../support/fake-dns.js";
import { startFakeNseRegistry, type FakeNseRegistry } from "../../support/fake-v1-registry-lite.js";
import { callError, closeAll, openServerStream } from "../../support/grpc.js";
import { freePort } from "../../support/ports.js";
import { seedRequest } from "../../support/seed-requests.js";
import { fwdRequest, fwdToken } from "../connection-v1/_topology.js";

interface Canary {
  readonly port: number;
  connections(): number;
  close(): Promise<void>;
}

/** Listens on 127.0.0.1:port and [::1]:port and counts every TCP connection. */
async function startCanary(): Promise<Canary> {
  const port = await freePort();
  let count = 0;
  const sockets = new Set<Socket>();
  const servers: Server[] = [];
  for (const host of ["127.0.0.1", "::1"]) {
    const server = createServer(socket => {
      count += 1;
      sockets.add(socket);
      socket.destroy();
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => resolve());
    }).catch(() => undefined); // no IPv6 loopback here: the IPv4 canary still counts
    servers.push(server);
  }
  return {
    port,
    connections: () => count,
    close: () => Promise.all(servers.map(s => new Promise<void>(resolve => (s.listening ? s.close(() => resolve()) : resolve())))).then(() => undefined),
  };
}

type Expect = "invalid" | "denied";

/** Host spellings (IPv6 bracketed), what the guard must answer, and what to find in the message. */
const LOOPBACK_HOSTS: [string, Expect][] = [
  ["127.0.0.1", "denied"], ["127.1", "invalid"], ["127.0.1", "invalid"], ["2130706433", "invalid"], ["0x7f000001", "invalid"],
  ["0x7F.0.0.1", "invalid"], ["0177.0.0.1", "invalid"], ["017700000001", "invalid"], ["127.000.000.001", "invalid"], ["127.0.0.01", "invalid"],
  ["127.255.255.254", "denied"], ["[::1]", "denied"], ["[0:0:0:0:0:0:0:1]", "denied"], ["[::ffff:127.0.0.1]", "denied"], ["[::ffff:7f00:1]", "denied"],
  ["[0:0:0:0:0:ffff:127.0.0.1]", "denied"], ["[64:ff9b::127.0.0.1]", "denied"], ["[64:ff9b::7f00:1]", "denied"], ["0.0.0.0", "denied"], ["0", "invalid"],
  ["[::]", "denied"], ["[::ffff:0.0.0.0]", "denied"], ["localhost", "denied"], ["LocalHost.", "denied"], ["loop.evil.test", "denied"],
  ["loop6.evil.test", "denied"], ["mixed.evil.test", "denied"], ["mapped.evil.test", "denied"],
  ["127.0.0.2", "denied"], ["127.1.1", "invalid"], ["0x7f.1", "invalid"], ["0x7f.0x0.0x0.0x1", "invalid"], ["0177.1", "invalid"],
  ["127.0x0.0.1", "invalid"], ["2130706434", "invalid"], ["0X7F000001", "invalid"], ["0x000000007f000001", "invalid"], ["127.0.0.1.", "invalid"],
  ["[::ffff:7f00:0001]", "denied"], ["[0:0:0:0:0:ffff:7f00:1]", "denied"], ["[::ffff:127.0.0.2]", "denied"], ["[::127.0.0.1]", "denied"], ["[::7f00:1]", "denied"],
  ["[2002:7f00:1::1]", "denied"], ["[0000::1]", "denied"], ["[::0:1]", "denied"], ["[0::]", "denied"], ["0.0.0.1", "denied"],
  ["0.1.2.3", "denied"], ["00.0.0.0", "invalid"], ["0x0", "invalid"], ["loop.evil.test.", "denied"], ["LOOP.EVIL.TEST", "denied"],
  ["127.0.0.1.evil.test", "denied"], ["zero.evil.test", "denied"], ["many.evil.test", "denied"], ["zero6.evil.test", "denied"], ["compat.evil.test", "denied"],
];
const METADATA_HOSTS: [string, Expect][] = [
  ["169.254.169.254", "denied"], ["2852039166", "invalid"], ["0xa9fea9fe", "invalid"], ["0XA9FEA9FE", "invalid"], ["0251.0376.0251.0376", "invalid"],
  ["0251.254.169.254", "invalid"], ["169.254.43518", "invalid"], ["169.16689662", "invalid"], ["0xa9.0xfe.0xa9.0xfe", "invalid"], ["[::ffff:169.254.169.254]", "denied"],
  ["[::ffff:a9fe:a9fe]", "denied"], ["[64:ff9b::169.254.169.254]", "denied"], ["[64:ff9b::a9fe:a9fe]", "denied"], ["metadata.evil.test", "denied"], ["[fe80::1]", "denied"],
  ["[fe80::a9fe:a9fe]", "denied"], ["169.254.0.1", "denied"], ["224.0.0.1", "denied"], ["239.255.255.250", "denied"], ["255.255.255.255", "denied"],
  ["[ff02::1]", "denied"], ["[::ffff:224.0.0.1]", "denied"], ["[::ffff:255.255.255.255]", "denied"], ["multicast.evil.test", "denied"],
  ["169.254.255.255", "denied"], ["169.254.169.254.", "invalid"], ["169.254.169.0254", "invalid"], ["0x00a9fea9fe", "invalid"], ["0XA9.0XFE.0XA9.0XFE", "invalid"],
  ["00000251.0376.0251.0376", "invalid"], ["425.254.169.254", "invalid"], ["4294967295", "invalid"], ["169.254.169.254.evil.test", "denied"], ["[::ffff:169.254.0.1]", "denied"],
  ["[::ffff:a9fe:1]", "denied"], ["[64:ff9b::a9fe:1]", "denied"], ["[64:ff9b:0:0:0:0:a9fe:a9fe]", "denied"], ["[2002:a9fe:a9fe::1]", "denied"], ["[::a9fe:a9fe]", "denied"],
  ["[fe80::]", "denied"], ["[febf:ffff::1]", "denied"], ["[fe80:0:0:0:0:0:0:1]", "denied"], ["[FE80::A9FE:A9FE]", "denied"], ["[ff00::]", "denied"],
  ["[ff05::1:3]", "denied"], ["225.1.2.3", "denied"], ["[::ffff:e000:1]", "denied"], ["bcast.evil.test", "denied"], ["nat64.evil.test", "denied"],
  ["ll6.evil.test", "denied"], ["mc6.evil.test", "denied"], ["instance-data.evil.test", "denied"],
];
const HOSTS = [...LOOPBACK_HOSTS, ...METADATA_HOSTS];

function fakeNames(dns: FakeDns): void {
  dns.a("localhost", "127.0.0.1").aaaa("localhost", "::1");
  dns.a("loop.evil.test", "127.0.0.1");
  dns.aaaa("loop6.evil.test", "::1");
  // Every address is checked: one public-looking answer does not carry a loopback one through.
  dns.a("mixed.evil.test", "203.0.113.80").a("mixed.evil.test", "127.0.0.1");
  dns.aaaa("mapped.evil.test", "::ffff:7f00:1");
  dns.a("metadata.evil.test", "169.254.169.254");
  dns.a("multicast.evil.test", "224.0.0.251");
  dns.a("127.0.0.1.evil.test", "127.0.0.1").a("169.254.169.254.evil.test", "169.254.169.254");
  dns.a("zero.evil.test", "0.0.0.0").aaaa("zero6.evil.test", "::").aaaa("compat.evil.test", "::7f00:1");
  dns.a("many.evil.test", "203.0.113.81").a("many.evil.test", "203.0.113.82").aaaa("many.evil.test", "2001:db8::5").aaaa("many.evil.test", "::1");
  dns.a("bcast.evil.test", "255.255.255.255").aaaa("nat64.evil.test", "64:ff9b::a9fe:a9fe").aaaa("ll6.evil.test", "fe80::1").aaaa("mc6.evil.test", "ff02::1");
  dns.a("instance-data.evil.test", "203.0.113.90").a("instance-data.evil.test", "169.254.169.254");
  // SRV targets that lead to refused addresses.
  dns.srv("registry.nsm-system.srv-metadata.test", "metadata.evil.test", 5002);
  dns.srv("registry.nsm-system.srv-loop.test", "loop.evil.test", 5002);
  dns.srv("registry.nsm-system.srv-mixed.test", "mixed.evil.test", 5002);
  dns.srv("registry.nsm-system.srv-self.test", "srv-self.test", 5002).a("srv-self.test", "169.254.169.254");
}

let canary: Canary;
let dns: FakeDns;
let registry: FakeNseRegistry;
let gateway: Gateway;

test.before(async () => {
  canary = await startCanary();
  dns = await startFakeDns();
  fakeNames(dns);
  registry = await startFakeNseRegistry(Object.fromEntries(HOSTS.map(([host], i) => [`nse-${i}`, `tcp://${host}:${canary.port}`])));
  // The default rules: no allowlist. Only the configured registry (trusted) is on loopback.
  gateway = await startTestGateway({ dialAllow: undefined, dnsServer: dns.address, dnsCacheTtlMs: 0, remotePort: canary.port, registryUrl: registry.url });
  for (const [host, i] of HOSTS.map(([h], index) => [h, index] as const)) await gateway.routes.set(`nse-${i}@learned`, `tcp://${host}:${canary.port}`);
});

test.after.always(async () => {
  await closeAll();
  await stopGateways();
  await registry?.server.stop();
  await closeFakeDns();
  await canary?.close();
});

function bare(host: string): string {
  return host.replace(/^\[(.*)\]$/, "$1").replace(/\.$/, "");
}

/** The refusal is the expected code, names what was asked for and, for a denial, the rule. */
function assertRefused(t: import("ava").ExecutionContext, error: { code: number; details: string }, host: string, expected: Expect, where: string): void {
  const code = expected === "invalid" ? status.INVALID_ARGUMENT : status.PERMISSION_DENIED;
  t.is(error.code, code, `${where} ${host}: ${error.details}`);
  t.true(error.details.toLowerCase().includes(bare(host).toLowerCase()), `${where} ${host}: the message names the destination: ${error.details}`);
  if (expected === "denied") t.regex(error.details, /rule (own listener|deny|default deny|not in the allowlist)/, `${where} ${host}: the message names the rule`);
}

const places: [string, (host: string, i: number) => Promise<{ code: number; details: string }>][] = [
  ["seed Request path segment", host => callError(gateway.apiAddress, NetworkServiceService.request, seedRequest(`nsmgr-2@${host}:${canary.port}`))],
  ["seed Close path segment", host => callError(gateway.apiAddress, NetworkServiceService.close, seedRequest(`nsmgr-2@${host}:${canary.port}`).connection!)],
  ["seed Find service@host:port", host => callError(gateway.registryAddress, NetworkServiceDiscoveryService.findNetworkService, { networkServiceName: `icmp@${host}:${canary.port}` })],
  ["seed Find service@host (remote port)", host => callError(gateway.registryAddress, NetworkServiceDiscoveryService.findNetworkService, { networkServiceName: `icmp@${host}` })],
  [
    "v1 NSE URL from the registry",
    async (_, i) => callError(gateway.v1Address, NetworkServiceService.request, fwdRequest({ networkServiceEndpointName: `nse-${i}`, networkService: "ns" }), { metadata: await fwdToken() }),
  ],
  [
    "v1 learned route",
    async (_, i) => callError(gateway.v1Address, NetworkServiceService.request, fwdRequest({ networkServiceEndpointName: `nse-${i}@learned` }), { metadata: await fwdToken() }),
  ],
];

for (const [where, call] of places) {
  test(`${where}: ${HOSTS.length} hostile spellings are refused, none dialled`, async t => {
    t.timeout(60_000);
    const before = gateway.guard.refusals().total;
    for (const [i, [host, expected]] of HOSTS.entries()) assertRefused(t, await call(host, i), host, expected, where);
    const denied = HOSTS.filter(([, expected]) => expected === "denied").length;
    t.true(gateway.guard.refusals().total - before >= denied, `every denial is counted (${gateway.guard.refusals().total - before} of ${HOSTS.length} calls)`);
    t.is(canary.connections(), 0, "nothing reached the canary");
  });
}

const nseFind = (name: string) =>
  new Promise<{ code: number; details: string }>(resolve => {
    const stream = openServerStream(gateway.v1Address, NetworkServiceEndpointRegistryService.find, {
      networkServiceEndpoint: { name, networkServiceNames: [], networkServiceLabels: {}, url: "", expirationTime: undefined, initialRegistrationTime: undefined, pathIds: [] },
      watch: false,
    }, { deadlineMs: 10_000 });
    void stream.status.then(s => resolve({ code: s.code, details: s.details }));
  });

test("v1 registry domain as ip:port and SRV targets: refused, none dialled", async t => {
  t.timeout(60_000);
  const literal = HOSTS.filter(([host]) => !/evil\.test|localhost/i.test(host));
  t.true(HOSTS.length >= 100, `${HOSTS.length} spellings`);
  t.true(literal.length > 30);
  for (const [host, expected] of literal) assertRefused(t, await nseFind(`nse@${host}:${canary.port}`), host, expected, "v1 registry domain");
  // Without a port a domain is a DNS name for SRV: a number-like one is not handed to DNS either.
  for (const host of ["2852039166", "0xa9fea9fe", "127.1", "0251.0376.0251.0376"]) assertRefused(t, await nseFind(`nse@${host}`), host, "invalid", "v1 registry domain without port");
  for (const [domain, target] of [["srv-metadata.test", "metadata.evil.test"], ["srv-loop.test", "loop.evil.test"], ["srv-mixed.test", "mixed.evil.test"], ["srv-self.test", "srv-self.test"]] as const) {
    const error = await nseFind(`nse@${domain}`);
    t.is(error.code, status.PERMISSION_DENIED, `${domain}: ${error.details}`);
    t.true(error.details.includes(target), error.details);
    t.regex(error.details, /rule default deny/);
  }
  t.is(canary.connections(), 0);
});

test("seed monitor selectors naming a refused remote are refused before any feed is set up, none dialled", async t => {
  for (const [host, expected] of [["127.1", "invalid"], ["[::ffff:127.0.0.1]", "denied"], ["metadata.evil.test", "denied"], ["0xa9fea9fe", "invalid"]] as const) {
    const stream = openServerStream(gateway.apiAddress, MonitorConnectionService.monitorConnections, { pathSegments: [{ name: "nsmgr-1", id: "", token: "", expires: undefined, metrics: {} }, { name: `nsmgr-2@${host}:${canary.port}`, id: "", token: "", expires: undefined, metrics: {} }], networkServices: [] }, { deadlineMs: 10_000 });
    const end = await stream.status;
    assertRefused(t, { code: end.code, details: end.details }, host, expected, "seed monitor selector");
  }
  t.is(canary.connections(), 0);
});
