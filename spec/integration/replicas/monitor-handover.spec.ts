/**
 * Monitor handover without loss: two real pnsmgr processes (replicas A and B, one redis-server) in
 * front of a stand-in remote NSMgr (seed API), all on 127.0.0.1.
 *
 *   client (as nsmgr-1) ─MonitorConnections─▶ A or B ─(one upstream, run by the feed's lease holder)─▶ nsmgr-2
 *
 * A client monitors through A; A is SIGKILLed mid-stream; B takes the orphaned upstream over and
 * keeps recording while no client is attached; the client re-subscribes through B with the last
 * position it was sent and gets every event it missed, in order, once each, then live ones.
 */
import test from "ava";
import { randomUUID } from "node:crypto";
import { status } from "@grpc/grpc-js";
import { type Connection, ConnectionEventType, type MonitorScopeSelector } from "../../../generated/nsm/connection.js";
import { comparePositions } from "../../../lib/state/event-log.js";
import { closeAll, openServerStream } from "../../support/grpc.js";
import { waitFor } from "../../support/wait.js";
import { type FakeNsmgr, startFakeNsmgr } from "../../support/fake-nsmgr.js";
import { type RedisProcess, redisCommand, startRedis, stopAllRedis } from "../../support/redis.js";
import { type Replica, startReplicas, stopReplicas } from "../../support/replicas.js";
import { type PositionedEvent, monitorWithPositions, segment } from "../../support/wire.js";

let redis: RedisProcess | undefined;

test.before(async () => {
  redis = await startRedis();
});
test.afterEach.always(async () => {
  await stopReplicas();
  await closeAll();
});
test.after.always(async () => {
  await stopAllRedis();
});

function connection(n: number): Connection {
  return {
    id: "conn-1",
    networkService: "icmp-responder",
    mechanism: undefined,
    context: undefined,
    labels: { n: String(n) },
    path: { index: 1, pathSegments: [segment("nsmgr-1"), segment("nsmgr-2")] },
    networkServiceEndpointName: "nse-1",
    payload: "IP",
    state: 0,
  } as Connection;
}

const nOf = (r: PositionedEvent) => Number(r.event.connections["conn-1"]?.labels.n);

async function setup(t: { timeout(ms: number): void }) {
  t.timeout(60_000);
  if (!redis) throw new Error("redis-server not started");
  const remote = await startFakeNsmgr({ name: "nsmgr-2" });
  const prefix = `pnsmgr-handover-${randomUUID()}:`;
  const [a, b] = (await startReplicas({
    redisUrl: redis.url,
    name: "proxy-1",
    env: { PNSMGR_REDIS_PREFIX: prefix, PNSMGR_MONITOR_LEASE: "1s", PNSMGR_MONITOR_LINGER: "30s" },
  })) as [Replica, Replica];
  const selector: MonitorScopeSelector = { pathSegments: [segment("nsmgr-1"), segment(`nsmgr-2@${remote.address}`)], networkServices: [] };
  const port = redis.port;
  const leaseHolder = async () => {
    const keys = (await redisCommand(port, "KEYS", `${prefix}lease:feed:*`)) as string[];
    if (keys.length !== 1) return undefined;
    const holder = await redisCommand(port, "GET", keys[0]!);
    return typeof holder === "string" ? holder : undefined;
  };
  /** The feed's n values as the event log holds them, oldest first. */
  const loggedN = async () => {
    const entries = (await redisCommand(port, "XRANGE", `${prefix}events`, "-", "+")) as [string, string[]][];
    return entries
      .map(([, fields]) => JSON.parse(fields[fields.indexOf("d") + 1] ?? "null") as { type?: string; connections?: Record<string, { labels?: { n?: string } }> })
      .filter(payload => payload?.type === "UPDATE")
      .map(payload => Number(payload.connections?.["conn-1"]?.labels?.n));
  };
  return { remote, a, b, selector, leaseHolder, loggedN };
}

async function publish(remote: FakeNsmgr, from: number, to: number) {
  for (let n = from; n <= to; n++) remote.update(connection(n));
}

test.serial("kill -9 of the replica serving a monitor stream: the client resumes through another replica and misses nothing", async t => {
  const { remote, a, b, selector, leaseHolder, loggedN } = await setup(t);
  remote.update(connection(0));

  const first = openServerStream(a.apiAddress, monitorWithPositions, selector);
  const initial = await first.next(10_000);
  t.is(initial.event.type, ConnectionEventType.INITIAL_STATE_TRANSFER);
  t.is(nOf(initial), 0, "the initial state holds the remote's connection");
  t.regex(initial.position, /^\d+-\d+$/, "the initial state carries its log position");
  t.is(await leaseHolder(), a.replicaId, "A runs the upstream it opened for its client");

  await publish(remote, 1, 5);
  for (let n = 1; n <= 5; n++) t.is(nOf(await first.next()), n);
  await waitFor(() => first.received.length === 6, 5000, "events 1-5 through A");
  const positions = first.received.map(r => r.position);
  t.deepEqual([...positions].sort(comparePositions), positions, "positions increase");
  t.is(new Set(positions).size, positions.length, "positions are distinct");

  // Mid-stream: three more events, then A dies as they are being relayed.
  await publish(remote, 6, 8);
  await waitFor(() => remote.monitorCount() === 1, 5000, "A's upstream still open");
  const loggedBeforeKill = async () => (await loggedN()).includes(8);
  for (let i = 0; i < 200 && !(await loggedBeforeKill()); i++) await new Promise(r => setTimeout(r, 10));
  await a.kill("SIGKILL");
  const cut = await first.status;
  t.not(cut.code, status.OK, "the client's stream through A is cut");
  const last = first.received.at(-1)!;

  // No client attached now: B takes the orphaned upstream over (lease 1 s) and keeps recording.
  await waitFor(() => remote.monitorCount() === 0, 5000, "A's upstream gone with A");
  const takeover = Date.now();
  await waitFor(() => remote.monitorCount() === 1, 10_000, "B opening the orphaned upstream");
  t.log(`B took the upstream over ${Date.now() - takeover} ms after A's died`);
  for (let i = 0; i < 100 && (await leaseHolder()) !== b.replicaId; i++) await new Promise(r => setTimeout(r, 20));
  t.is(await leaseHolder(), b.replicaId);
  await publish(remote, 9, 12);
  for (let i = 0; i < 200 && !(await loggedN()).includes(12); i++) await new Promise(r => setTimeout(r, 10));
  t.deepEqual(await loggedN(), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12].filter(n => n > 0), "the log has every UPDATE once, also those made while no client was attached");

  // The client comes back through B, resuming after the last event it was sent.
  const second = openServerStream(b.apiAddress, monitorWithPositions, selector, { metadata: { "pnsmgr-resume-after": last.position } });
  await waitFor(() => second.received.some(r => nOf(r) === 12 && r.event.type === ConnectionEventType.UPDATE), 10_000, "the resumed stream to reach event 12");
  remote.update(connection(13));
  await waitFor(() => second.received.some(r => nOf(r) === 13), 5000, "a live event through B");
  await new Promise(r => setTimeout(r, 200));

  const resumed = second.received;
  t.true(resumed.every(r => comparePositions(r.position, last.position) > 0), "nothing at or before the resume position is sent again");
  const resumedPositions = resumed.map(r => r.position);
  t.deepEqual([...resumedPositions].sort(comparePositions), resumedPositions, "in log order");
  t.is(new Set(resumedPositions).size, resumedPositions.length, "no duplicates");
  const updates = resumed.filter(r => r.event.type === ConnectionEventType.UPDATE).map(nOf);
  const lastN = nOf(last);
  t.deepEqual(updates, Array.from({ length: 13 - lastN }, (_, i) => lastN + 1 + i), `every UPDATE after ${lastN}, once each, in order`);
  const transfers = resumed.filter(r => r.event.type === ConnectionEventType.INITIAL_STATE_TRANSFER);
  t.is(transfers.length, 1, "one INITIAL_STATE_TRANSFER: B's fresh upstream, recorded at the takeover");
  t.is(nOf(transfers[0]!), 8, "it holds the state B found at the takeover");
  const all = [...first.received, ...resumed].filter(r => r.event.type === ConnectionEventType.UPDATE).map(nOf);
  t.deepEqual(all, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13], "across both streams: every UPDATE exactly once");
  second.cancel();
});

test.serial("a replica that drains gives its feeds up at once; a fresh client through the other replica starts from the current state", async t => {
  const { remote, a, b, selector, leaseHolder } = await setup(t);
  remote.update(connection(1));
  const first = openServerStream(a.apiAddress, monitorWithPositions, selector);
  t.is(nOf(await first.next(10_000)), 1);
  t.is(await leaseHolder(), a.replicaId);
  remote.update(connection(2));
  t.is(nOf(await first.next()), 2);

  const drained = Date.now();
  await a.kill("SIGTERM");
  t.is((await first.status).code, status.UNAVAILABLE, "the drain ends the stream with UNAVAILABLE");
  await waitFor(() => remote.monitorCount() === 1 && first.received.length > 0, 5000, "an upstream open again");
  for (let i = 0; i < 100 && (await leaseHolder()) !== b.replicaId; i++) await new Promise(r => setTimeout(r, 20));
  t.is(await leaseHolder(), b.replicaId, "B holds the feed");
  const tookMs = Date.now() - drained;
  t.log(`B ran the feed ${tookMs} ms after A was told to drain`);

  const fresh = openServerStream(b.apiAddress, monitorWithPositions, selector);
  const initial = await fresh.next(10_000);
  t.is(initial.event.type, ConnectionEventType.INITIAL_STATE_TRANSFER);
  t.is(nOf(initial), 2, "the current state, from the feed's snapshot");
  remote.update(connection(3));
  const next = await fresh.next();
  t.is(nOf(next), 3);
  t.true(comparePositions(next.position, initial.position) > 0);
  fresh.cancel();
});
