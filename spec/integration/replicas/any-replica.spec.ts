/**
 * Any replica carries on what another started: two real pnsmgr processes (replicas A and B of
 * "proxy-1": same NSM_NAME, one Redis) in domain 1, and proxy-2 (in-process gateway) with the fake
 * nsmgr-2 in domain 2, all on 127.0.0.1:
 *
 *   test (as fwd-1) ─▶ A or B ─(route learned through A, kept in Redis)─▶ proxy-2 ─(registry-2: nse)─▶ nsmgr-2
 *
 * The route is learned the way it is in production: an NSE Find for "nse@domain-2" through A's v1
 * registry, which resolves domain-2's registry by SRV at a fake DNS server and stores the NSE's URL
 * (proxy-2) as the route. Each test has its own key prefix in the shared redis-server. Monitor
 * leases last 1 s, so that a killed replica's downstream monitor feeds are taken over within it.
 */
import test from "ava";
import { randomUUID } from "node:crypto";
import { status } from "@grpc/grpc-js";
import { type Connection, type ConnectionEvent, ConnectionEventType, MonitorConnectionService, State } from "../../../generated/nsm/connection.js";
import { NetworkServiceService } from "../../../generated/nsm/networkservice.js";
import { NetworkServiceEndpoint, NetworkServiceEndpointRegistryService as NSE } from "../../../generated/nsm/registry.js";
import { callUnary, closeAll, openServerStream, type StreamHandle } from "../../support/grpc.js";
import { waitFor } from "../../support/wait.js";
import { startTestGateway, stopGateways } from "../../support/gateway.js";
import { closeFakeDns, startFakeDns } from "../../support/fake-dns.js";
import { startFakeV1Registry } from "../../support/fake-v1-registry.js";
import { startFakeV1Nsmgr } from "../../support/fake-v1-nsmgr.js";
import { startFakeNseRegistry } from "../../support/fake-v1-registry-lite.js";
import { type RedisProcess, redisCommand, startRedis, stopAllRedis } from "../../support/redis.js";
import { type Replica, startReplicas, stopReplicas } from "../../support/replicas.js";
import { DOMAIN2_NODE, fwdRequest, fwdToken } from "../connection-v1/_topology.js";
import { segment } from "../../support/wire.js";

let redis: RedisProcess | undefined;

test.before(async () => {
  redis = await startRedis();
});
test.afterEach.always(async () => {
  await stopReplicas();
  await stopGateways();
  await closeAll();
  await closeFakeDns();
});
test.after.always(async () => {
  await stopAllRedis();
});

const EIGHT = ["nsc", "nsmgr-1", "fwd-1", "proxy-1", "proxy-2", "nsmgr-2", "fwd-2", "nse"];

async function replicaTopology() {
  if (!redis) throw new Error("redis-server not started");
  const nsmgr2 = await startFakeV1Nsmgr({ name: "nsmgr-2", endpoints: ["nse"], dstIP: DOMAIN2_NODE.internal });
  const registry2 = await startFakeNseRegistry({ nse: nsmgr2.url });
  const proxy2 = await startTestGateway({ name: "proxy-2", registryUrl: registry2.url });
  // domain-2's registry as domain 1 finds it: the NSE "nse", reached through proxy-2
  const remoteRegistry = await startFakeV1Registry();
  remoteRegistry.putNse(NetworkServiceEndpoint.fromPartial({ name: "nse", networkServiceNames: ["ns"], url: `tcp://${proxy2.v1Address}` }));
  const dns = await startFakeDns();
  dns.srv("registry.nsm-system.domain-2", "registry-lb.domain-2.test", remoteRegistry.port).a("registry-lb.domain-2.test", "127.0.0.1");
  const prefix = `pnsmgr-replicas-${randomUUID()}:`;
  const [a, b] = (await startReplicas({ redisUrl: redis.url, name: "proxy-1", env: { PNSMGR_REDIS_PREFIX: prefix, PNSMGR_DNS_SERVER: dns.address, PNSMGR_MONITOR_LEASE: "1s" } })) as [Replica, Replica];
  const redisPort = redis.port;
  const hget = async (key: string, field: string) => {
    const reply = await redisCommand(redisPort, "HGET", `${prefix}${key}`, field);
    return typeof reply === "string" ? reply : undefined;
  };
  /** Learns the route of "nse@domain-2" through A's v1 registry (NSE Find, as an NSMgr of domain 1 does). */
  const learnRouteThroughA = async () => {
    const find = openServerStream(a.v1Address, NSE.find, { networkServiceEndpoint: NetworkServiceEndpoint.fromPartial({ name: "nse@domain-2" }), watch: false }, { deadlineMs: 8000 });
    const found = (await find.next()).networkServiceEndpoint;
    if ((await find.status).code !== status.OK) throw new Error("the Find through A failed");
    return found;
  };
  return { nsmgr2, registry2, proxy2, remoteRegistry, dns, a, b, hget, learnRouteThroughA };
}

const request = async (address: string, connection?: Connection, tokenLifetimeMs?: number) =>
  callUnary(address, NetworkServiceService.request, connection ? { connection, mechanismPreferences: fwdRequest().mechanismPreferences } : fwdRequest(), { metadata: await fwdToken(tokenLifetimeMs) });
const close = async (address: string, connection: Connection) => callUnary(address, NetworkServiceService.close, connection, { metadata: await fwdToken() });
const ids = (conn: Connection) => conn.path?.pathSegments.map(s => s.id) ?? [];

/** fwd-1 of a second connection: other ids for the hops before proxy-1. */
const secondConnection = () =>
  fwdRequest({
    id: "fwd-1-id-2",
    path: { index: 2, pathSegments: [segment("nsc", "nsc-id-2"), segment("nsmgr-1", "nsmgr-1-id-2"), segment("fwd-1", "fwd-1-id-2")] },
  }).connection!;

test.serial("(a) a route learned through replica A serves a Request through replica B", async t => {
  t.timeout(30_000);
  const { a, b, nsmgr2, proxy2, dns, remoteRegistry, hget, learnRouteThroughA } = await replicaTopology();
  const found = await learnRouteThroughA();
  t.is(found?.name, "nse@domain-2");
  t.is(found?.url, a.url, "the Find answer points at A");
  t.is(await hget("routes", "nse@domain-2"), `tcp://${proxy2.v1Address}`, "the route is in Redis");
  const queriesBefore = dns.queries.length;
  const findsBefore = remoteRegistry.calls.length;

  const answer = await request(b.v1Address);
  t.deepEqual(answer.path?.pathSegments.map(s => s.name), EIGHT);
  t.is(answer.id, "fwd-1-id");
  t.is(answer.state, State.UP);
  t.is(nsmgr2.requests.length, 1);
  t.is(nsmgr2.requests[0]!.message.connection?.networkServiceEndpointName, "nse");
  t.is(dns.queries.length, queriesBefore, "B did not look the domain up");
  t.is(remoteRegistry.calls.length, findsBefore, "B did not ask domain-2's registry");
  const record = JSON.parse((await hget("v1-connections", ids(answer)[3]!)) ?? "null") as { route?: { nextHop?: string } } | null;
  t.is(record?.route?.nextHop, proxy2.v1Address, "B recorded the connection with its route");
});

test.serial("(b) Request through A; refresh and Close through B: same ids end to end, one connection at nsmgr-2; A's expiry leaves B's refresh alone", async t => {
  t.timeout(30_000);
  const { a, b, nsmgr2, hget, learnRouteThroughA } = await replicaTopology();
  await learnRouteThroughA();

  // A's timer fires ~1.5 s in (fwd-1's token lives 3 s); by then B has refreshed it for 10 minutes.
  const first = await request(a.v1Address, undefined, 3000);
  const ours = ids(first)[3]!;
  const recordedByA = JSON.parse((await hget("v1-connections", ours)) ?? "{}") as { stamp?: string };
  const second = await request(b.v1Address, first);
  t.deepEqual(ids(second), ids(first), "every id kept end to end");
  t.deepEqual(second.path?.pathSegments.map(s => s.name), EIGHT);
  t.is(nsmgr2.connections.size, 1, "one connection at nsmgr-2");
  t.is(nsmgr2.requests.length, 2);
  t.is(nsmgr2.requests[1]!.message.connection?.id, ids(first)[4] ?? "missing");
  const recordedByB = JSON.parse((await hget("v1-connections", ours)) ?? "{}") as { stamp?: string };
  t.truthy(recordedByB.stamp);
  t.not(recordedByB.stamp, recordedByA.stamp, "B wrote the record of its refresh");

  await new Promise(resolve => setTimeout(resolve, 2500));
  t.is(nsmgr2.closes.length, 0, "A's expiry saw B's refresh and closed nothing");
  t.is(nsmgr2.connections.size, 1);

  await close(b.v1Address, second);
  t.is(nsmgr2.closes.length, 1, "the Close through B reached nsmgr-2");
  t.is(nsmgr2.closes[0]!.message.id, ids(first)[4] ?? "missing", "with proxy-2's segment id");
  t.is(nsmgr2.connections.size, 0);
  t.is(await hget("v1-connections", ours), undefined, "the record is gone");

  // A connection B has never seen: Close through B loads A's record and closes along its route.
  const other = await request(a.v1Address, secondConnection());
  t.is(nsmgr2.connections.size, 1);
  await close(b.v1Address, other);
  t.is(nsmgr2.closes.length, 2);
  t.is(nsmgr2.closes[1]!.message.id, ids(other)[4] ?? "missing");
  t.is(nsmgr2.connections.size, 0);
  t.is(await hget("v1-connections", ids(other)[3]!), undefined);
});

test.serial("(c) Request through A; MonitorConnections through B: the connection in B's initial state, and nsmgr-2's DOWN reaches the client through B (A killed); Close through B: DELETE", async t => {
  t.timeout(30_000);
  const { a, b, nsmgr2, learnRouteThroughA } = await replicaTopology();
  await learnRouteThroughA();
  const answer = await request(a.v1Address);
  const ours = ids(answer)[3]!;
  await waitFor(() => nsmgr2.monitorCount() === 1, 3000, "proxy-2 monitoring nsmgr-2");

  const stream: StreamHandle<ConnectionEvent> = openServerStream(b.v1Address, MonitorConnectionService.monitorConnections, { pathSegments: [segment("fwd-1", "fwd-1-id")], networkServices: [] });
  t.teardown(() => stream.cancel());
  const initial = await stream.next();
  t.is(initial.type, ConnectionEventType.INITIAL_STATE_TRANSFER);
  t.deepEqual(Object.keys(initial.connections), [ours], "keyed by proxy-1's segment id");
  t.is(initial.connections[ours]?.state, State.UP);
  t.is(initial.connections[ours]?.path?.index, 3, "in proxy-1's frame");
  t.deepEqual(ids(initial.connections[ours]!), ids(answer));

  // Nothing of A is left: what reaches the client now comes through B's own downstream monitor.
  await a.kill("SIGKILL");
  await new Promise(resolve => setTimeout(resolve, 100));
  nsmgr2.endpointDies(ids(answer)[5]!);
  const down = await stream.next(5000);
  t.is(down.type, ConnectionEventType.UPDATE);
  t.deepEqual(Object.keys(down.connections), [ours]);
  t.is(down.connections[ours]?.state, State.DOWN);

  await close(b.v1Address, answer);
  const deleted = await stream.next();
  t.is(deleted.type, ConnectionEventType.DELETE);
  t.deepEqual(Object.keys(deleted.connections), [ours]);
  t.is(nsmgr2.closes.length, 1);
  stream.cancel();
});
