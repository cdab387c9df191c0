/**
 * Monitor handover without loss, for both generations (monitor/_generations.ts): two real pnsmgr processes
 * (replicas A and B, one redis-server) in front of a stand-in remote, all on 127.0.0.1; the remote's
 * events reach clients through one upstream stream (a feed), run by the replica holding its lease.
 *
 * A client monitors through A; A is SIGKILLed (or SIGSTOPped) mid-stream; B takes the upstream over
 * and keeps recording while no client is attached; the client re-subscribes through B with the last
 * position it was sent and gets every event it missed, in order, once each, then live ones.
 */
import test, { type ExecutionContext } from "ava";
import { randomUUID } from "node:crypto";
import { status } from "@grpc/grpc-js";
import { ConnectionEventType } from "../../../generated/nsm/connection.js";
import { comparePositions } from "../../../lib/state/event-log.js";
import { closeAll, openServerStream } from "../../support/grpc.js";
import { sleep, waitFor } from "../../support/wait.js";
import { type RedisProcess, redisCommand, startRedis, stopAllRedis } from "../../support/redis.js";
import { type Replica, startReplicas, stopReplicas } from "../../support/replicas.js";
import { GENERATIONS, type Generation, type Received, type Remote, monitorWithPositions } from "../monitor/_generations.js";

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

/** The feed's n values as the event log holds them (UPDATEs), oldest first; and a wait for one of them. */
function logReader(port: number, prefix: string, remote: Remote) {
  const loggedN = async () => {
    const entries = (await redisCommand(port, "XRANGE", `${prefix}events`, "-", "+")) as [string, string[]][];
    return entries
      .map(([, fields]) => JSON.parse(fields[fields.indexOf("d") + 1] ?? "null") as { type?: string; connections?: Record<string, object> } | null)
      .filter(payload => payload?.type === "UPDATE")
      .map(payload => remote.loggedNOf(payload!))
      .filter((n): n is number => n !== undefined);
  };
  const logged = async (n: number) => {
    for (let i = 0; i < 300 && !(await loggedN()).includes(n); i++) await sleep(10);
  };
  return { loggedN, logged };
}

/** Replicas of proxy-1 on the test's redis-server under `prefix`, with 1 s leases. */
async function replicas(generation: Generation, prefix: string, count: number) {
  if (!redis) throw new Error("redis-server not started");
  const env = { ...(await generation.prepare()).env, PNSMGR_REDIS_PREFIX: prefix, PNSMGR_MONITOR_LEASE: "1s", PNSMGR_MONITOR_LINGER: "30s" };
  return startReplicas({ redisUrl: redis.url, name: "proxy-1", count, env });
}

async function setup(t: ExecutionContext, generation: Generation) {
  t.timeout(90_000);
  if (!redis) throw new Error("redis-server not started");
  const prefix = `pnsmgr-handover-${randomUUID()}:`;
  let [a, b] = (await replicas(generation, prefix, 2)) as [Replica, Replica];
  const remote = await generation.begin(a);
  const port = redis.port;
  const leaseHolder = async () => {
    const keys = (await redisCommand(port, "KEYS", `${prefix}lease:feed:*`)) as string[];
    if (keys.length !== 1) return undefined;
    const holder = await redisCommand(port, "GET", keys[0]!);
    return typeof holder === "string" ? holder : undefined;
  };
  const { loggedN, logged } = logReader(port, prefix, remote);
  const publish = (from: number, to: number) => {
    for (let n = from; n <= to; n++) remote.publish(n);
  };
  const monitor = (replica: Replica, resumeAfter?: string) =>
    openServerStream(remote.address(replica), monitorWithPositions, remote.selector, resumeAfter === undefined ? {} : { metadata: { "pnsmgr-resume-after": resumeAfter } });
  // v1: the remote's first event is relayed into the log before any client comes.
  if (generation.firstLoggedUpdate === 0) {
    await logged(0);
    // v1 runs the feed from the Request on, by whichever replica takes its lease first: A's own take
    // or, on a loaded machine, B's round finding it unheld. "A" is the replica that runs it.
    if ((await leaseHolder()) === b.replicaId) [a, b] = [b, a];
  }
  return { remote, a, b, leaseHolder, loggedN, logged, publish, monitor };
}

type Setup = Awaited<ReturnType<typeof setup>>;

/** A client through A that was sent the initial state and events 1-5, then 6-8 published and logged (A's upstream still open). */
async function clientThroughA(t: ExecutionContext, s: Setup) {
  const first = s.monitor(s.a);
  const initial = await first.next(10_000);
  t.is(initial.event.type, ConnectionEventType.INITIAL_STATE_TRANSFER);
  t.is(s.remote.nOf(initial), 0, "the initial state holds the remote's connection");
  t.regex(initial.position, /^\d+-\d+$/, "the initial state carries its log position");
  t.is(await s.leaseHolder(), s.a.replicaId, "A runs the upstream");

  s.publish(1, 5);
  for (let n = 1; n <= 5; n++) t.is(s.remote.nOf(await first.next()), n);
  const positions = first.received.map(r => r.position);
  t.deepEqual([...positions].sort(comparePositions), positions, "positions increase");
  t.is(new Set(positions).size, positions.length, "positions are distinct");

  // Mid-stream: three more events, logged, then A goes away.
  s.publish(6, 8);
  await waitFor(() => s.remote.monitorCount() === 1, 5000, "A's upstream still open");
  await s.logged(8);
  return first;
}

/** The client resumes through B after `last` and gets live event 13: every UPDATE after `last`, once, in order. */
async function resumeThroughB(t: ExecutionContext, s: Setup, generation: Generation, firstReceived: readonly Received[]) {
  const last = firstReceived.at(-1)!;
  const second = s.monitor(s.b, last.position);
  await waitFor(() => second.received.some(r => s.remote.nOf(r) === 12 && r.event.type === ConnectionEventType.UPDATE), 10_000, "the resumed stream to reach event 12");
  s.publish(13, 13);
  await waitFor(() => second.received.some(r => s.remote.nOf(r) === 13), 5000, "a live event through B");
  await sleep(200);

  const resumed = second.received;
  t.true(resumed.every(r => comparePositions(r.position, last.position) > 0), "nothing at or before the resume position is sent again");
  const resumedPositions = resumed.map(r => r.position);
  t.deepEqual([...resumedPositions].sort(comparePositions), resumedPositions, "in log order");
  t.is(new Set(resumedPositions).size, resumedPositions.length, "no duplicates");
  const updates = resumed.filter(r => r.event.type === ConnectionEventType.UPDATE).map(s.remote.nOf);
  const lastN = s.remote.nOf(last)!;
  t.deepEqual(updates, Array.from({ length: 13 - lastN }, (_, i) => lastN + 1 + i), `every UPDATE after ${lastN}, once each, in order`);
  const transfers = resumed.filter(r => r.event.type === ConnectionEventType.INITIAL_STATE_TRANSFER);
  t.is(transfers.length, generation.transfersOnTakeover, "INITIAL_STATE_TRANSFERs after the takeover");
  if (transfers[0]) t.is(s.remote.nOf(transfers[0]), 8, "the new holder's fresh upstream: the state it found at the takeover");
  const all = [...firstReceived, ...resumed].filter(r => r.event.type === ConnectionEventType.UPDATE).map(s.remote.nOf);
  t.deepEqual(all, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13], "across both streams: every UPDATE exactly once");
  second.cancel();
}

const expectedLog = (generation: Generation, through: number) => Array.from({ length: through + 1 - generation.firstLoggedUpdate }, (_, i) => generation.firstLoggedUpdate + i);

for (const generation of GENERATIONS) {
  test.serial(`${generation.name}: kill -9 of the replica serving a monitor stream: the client resumes through another replica and misses nothing`, async t => {
    const s = await setup(t, generation);
    const first = await clientThroughA(t, s);
    await s.a.kill("SIGKILL");
    const cut = await first.status;
    t.not(cut.code, status.OK, "the client's stream through A is cut");

    // No client attached now: B takes the orphaned upstream over (lease 1 s) and keeps recording.
    await waitFor(() => s.remote.monitorCount() === 0, 5000, "A's upstream gone with A");
    const takeover = Date.now();
    await waitFor(() => s.remote.monitorCount() === 1, 10_000, "B opening the orphaned upstream");
    t.log(`B took the upstream over ${Date.now() - takeover} ms after A's died`);
    for (let i = 0; i < 100 && (await s.leaseHolder()) !== s.b.replicaId; i++) await sleep(20);
    t.is(await s.leaseHolder(), s.b.replicaId);
    s.publish(9, 12);
    await s.logged(12);
    t.deepEqual(await s.loggedN(), expectedLog(generation, 12), "the log has every UPDATE once, also those made while no client was attached");

    await resumeThroughB(t, s, generation, first.received);
  });

  test.serial(`${generation.name}: SIGSTOP of the lease holder: another replica takes over; the stopped one, continued, records nothing twice`, async t => {
    const s = await setup(t, generation);
    const first = await clientThroughA(t, s);
    await s.a.kill("SIGSTOP");
    t.teardown(() => s.a.kill("SIGKILL"));

    // A is frozen with its upstream open: B takes the lease over once it runs out and opens its own.
    const stopped = Date.now();
    for (let i = 0; i < 300 && (await s.leaseHolder()) !== s.b.replicaId; i++) await sleep(20);
    t.is(await s.leaseHolder(), s.b.replicaId, "B holds the feed");
    await waitFor(() => s.remote.monitorCount() === 2, 10_000, "B's upstream beside frozen A's");
    t.log(`B ran the feed ${Date.now() - stopped} ms after A was stopped`);
    s.publish(9, 12);
    await s.logged(12);

    // A runs again: its lease is gone, so what its upstream delivered meanwhile is not recorded by it.
    first.cancel();
    await s.a.kill("SIGCONT");
    await waitFor(() => s.remote.monitorCount() === 1, 10_000, "A dropping its upstream");
    t.is(await s.leaseHolder(), s.b.replicaId, "B keeps the feed");
    t.deepEqual(await s.loggedN(), expectedLog(generation, 12), "every UPDATE once in the log: A wrote nothing after losing its lease");

    await resumeThroughB(t, s, generation, first.received);
    t.deepEqual(await s.loggedN(), expectedLog(generation, 13));
  });

  test.serial(`${generation.name}: a replica that drains gives its feeds up at once; a fresh client through the other replica starts from the current state`, async t => {
    const s = await setup(t, generation);
    s.publish(1, 1);
    if (generation.firstLoggedUpdate === 0) await s.logged(1);
    const first = s.monitor(s.a);
    t.is(s.remote.nOf(await first.next(10_000)), 1);
    t.is(await s.leaseHolder(), s.a.replicaId);
    s.publish(2, 2);
    t.is(s.remote.nOf(await first.next()), 2);

    const drained = Date.now();
    await s.a.kill("SIGTERM");
    t.is((await first.status).code, status.UNAVAILABLE, "the drain ends the stream with UNAVAILABLE");
    await waitFor(() => s.remote.monitorCount() === 1, 5000, "an upstream open again");
    for (let i = 0; i < 100 && (await s.leaseHolder()) !== s.b.replicaId; i++) await sleep(20);
    t.is(await s.leaseHolder(), s.b.replicaId, "B holds the feed");
    t.log(`B ran the feed ${Date.now() - drained} ms after A was told to drain`);

    const fresh = s.monitor(s.b);
    const initial = await fresh.next(10_000);
    t.is(initial.event.type, ConnectionEventType.INITIAL_STATE_TRANSFER);
    t.is(s.remote.nOf(initial), 2, "the current state");
    s.publish(3, 3);
    const next = await fresh.next();
    t.is(s.remote.nOf(next), 3);
    t.true(comparePositions(next.position, initial.position) > 0);
    fresh.cancel();
  });

  test.serial(`${generation.name}: a replica started after the feed ran takes it over when the holder dies: nothing is recorded twice`, async t => {
    t.timeout(90_000);
    if (!redis) throw new Error("redis-server not started");
    const prefix = `pnsmgr-handover-${randomUUID()}:`;
    const [a] = (await replicas(generation, prefix, 1)) as [Replica];
    const remote = await generation.begin(a);
    const { loggedN, logged } = logReader(redis.port, prefix, remote);
    const client = openServerStream(remote.address(a), monitorWithPositions, remote.selector);
    await waitFor(() => client.received.some(r => remote.nOf(r) === 0), 10_000, "n = 0 through A");
    for (let n = 1; n <= 3; n++) remote.publish(n);
    await waitFor(() => client.received.some(r => remote.nOf(r) === 3), 5000, "events 1-3 through A");
    await logged(3);

    // B knows nothing of what A relayed but what the store holds.
    await replicas(generation, prefix, 1);
    await a.kill("SIGKILL");
    await waitFor(() => remote.monitorCount() === 0, 5000, "A's upstream gone with A");
    await waitFor(() => remote.monitorCount() === 1, 10_000, "B opening the orphaned upstream");
    remote.publish(4);
    await logged(4);
    await sleep(200);
    t.deepEqual(await loggedN(), expectedLog(generation, 4), "every UPDATE once: the new holder announced nothing again");
  });
}
