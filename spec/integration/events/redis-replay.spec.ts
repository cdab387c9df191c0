/**
 * The event log on a real redis-server (started by the test): a gateway on Redis records the seed
 * monitor events in the Redis Stream, `pnsmgr events --redis` (or REDIS_URL) replays them straight
 * from Redis, filtered and in order, and --follow tails it. v1 monitor streams on Redis are served
 * from the log as the seed's are: Redis down ends them with UNAVAILABLE, and what happened meanwhile
 * is recorded once it is back.
 */
import test from "ava";
import { ConnectionEventType, MonitorConnectionService } from "../../../generated/nsm/connection.js";
import { NetworkServiceService } from "../../../generated/nsm/networkservice.js";
import type { Logger } from "../../../lib/log.js";
import { positionTime } from "../../../lib/state/event-log.js";
import { type RedisStateOptions, type StateStore, createStateStore, stateOptionsFromEnv } from "../../../lib/state/state.js";
import { status } from "@grpc/grpc-js";
import { callUnary, closeAll, openServerStream } from "../../support/grpc.js";
import { startTestGateway, stopGateways } from "../../support/gateway.js";
import { startRedis, stopAllRedis } from "../../support/redis.js";
import { killClis, linesOf, parsed, runEventsCli, seedScenario, startEventsCli, startRemotes, storedEvents, v1Connection } from "./_support.js";
import { sleep, within } from "../../support/wait.js";
import { segment as v1Segment } from "../../support/wire.js";
import { fwdToken } from "../connection-v1/_topology.js";

const stores = new Set<StateStore>();

test.afterEach.always(async () => {
  killClis();
  await stopGateways();
  await closeAll();
  await Promise.all([...stores].map(s => s.close()));
  stores.clear();
  await stopAllRedis();
});

function redisOptions(url: string): RedisStateOptions {
  const options = stateOptionsFromEnv({ REDIS_URL: url });
  if (options.kind !== "redis") throw new Error("not redis");
  return { ...options, connectTimeoutMs: 300, commandTimeoutMs: 500 };
}

async function redisGateway(log?: Logger) {
  const redis = await startRedis();
  const state = await createStateStore(redisOptions(redis.url));
  stores.add(state);
  const remotes = await startRemotes();
  const gateway = await startTestGateway({ remotePort: remotes.remotePort }, { state, ...(log ? { log } : {}) });
  return { redis, gateway, remotes };
}

test.serial("replayed straight from Redis: by connection, by time, everything (REDIS_URL), and --follow", async t => {
  t.timeout(30_000);
  const { redis, gateway, remotes } = await redisGateway();
  const { a, b, connA, entries } = await seedScenario(gateway, remotes);
  t.teardown(() => {
    a.stream.cancel();
    b.stream.cancel();
  });
  t.true(gateway.state.description.startsWith("redis"));
  t.deepEqual(entries.map(e => e.type), ["INITIAL_STATE_TRANSFER", "INITIAL_STATE_TRANSFER", "UPDATE", "UPDATE", "UPDATE", "DELETE"]);
  const from = new Date(positionTime(entries[1]!.position)).toISOString();
  const to = new Date(positionTime(entries[3]!.position)).toISOString();

  const [byConnection, everything, range] = await Promise.all([
    runEventsCli(["--redis", redis.url, "--connection", connA]),
    runEventsCli(["--json"], { REDIS_URL: redis.url }),
    runEventsCli(["--redis", redis.url, "--json", "--from", from, "--to", to]),
  ]);
  t.is(byConnection.code, 0, byConnection.stderr);
  t.deepEqual(
    byConnection.lines.map(l => l.split(" ").slice(0, 5).join(" ")),
    [entries[2]!, entries[4]!, entries[5]!].map(e => `${e.position} ${new Date(e.at).toISOString()} ${e.type} peer=${a.nsmgr.address} conn=${connA}`),
  );
  t.is(everything.code, 0, everything.stderr);
  t.deepEqual(parsed(everything.lines).map(r => [r.position, r.type, r.peer, r.connectionIds]), entries.map(e => [e.position, e.type, e.peer, e.connectionIds]));
  t.is(range.code, 0, range.stderr);
  // --from/--to are milliseconds: every entry appended within them (two may share a millisecond).
  const [fromMs, toMs] = [positionTime(entries[1]!.position), positionTime(entries[3]!.position)];
  const inRange = entries.filter(e => positionTime(e.position) >= fromMs && positionTime(e.position) <= toMs);
  t.true(inRange.length >= 3);
  t.deepEqual(parsed(range.lines).map(r => r.position), inRange.map(e => e.position));

  // --follow on Redis, resuming after the last entry: a new connection's events, then SIGTERM.
  const follow = startEventsCli(["--redis", redis.url, "--follow", "--json", "--after", entries[5]!.position]);
  b.nsmgr.connectionDown(remotes.b.nsmgr.connections.keys().next().value ?? "");
  t.is((await b.stream.next()).type, ConnectionEventType.UPDATE);
  const [line] = parsed(await linesOf(follow, 1));
  t.is(line?.type, "UPDATE");
  t.is(line?.peer, b.nsmgr.address);
  t.is((await storedEvents(gateway, 7)).at(-1)?.position, line?.position);
  follow.child.kill("SIGTERM");
  const exit = await within(follow.exited, 5000, "exit after SIGTERM");
  t.deepEqual(exit, { code: 0, signal: null }, follow.stderr());
});

test.serial("Redis down: v1 monitor streams end with UNAVAILABLE (served from the log, as the seed's); once it is back, what happened meanwhile is recorded", async t => {
  t.timeout(30_000);
  const warnings: string[] = [];
  const log: Logger = {
    debug() {},
    info() {},
    warn: (msg, fields) => warnings.push(`${msg} ${JSON.stringify(fields)}`),
    error() {},
  };
  const redis = await startRedis();
  const state = await createStateStore(redisOptions(redis.url));
  stores.add(state);
  const { gateway, nsmgr, ourId, nsmgrId, stream, answer } = await v1Connection({ state, log });
  t.teardown(() => stream.cancel());
  await storedEvents(gateway, 1);

  await redis.kill();
  t.is((await stream.status).code, status.UNAVAILABLE, "the client's stream ends: its events come from the log");
  nsmgr.connectionDown(nsmgrId);
  const deadline = Date.now() + 5000;
  while (!warnings.some(w => w.startsWith("monitor feed: event not recorded")) && Date.now() < deadline) await sleep(20);
  t.truthy(warnings.find(w => w.startsWith("monitor feed: event not recorded")), warnings.join("\n"));

  await redis.restart(); // empty: no persistence
  const until = Date.now() + 5000;
  while ((await gateway.state.events.read().catch(() => undefined)) === undefined && Date.now() < until) await sleep(50);
  // The downstream monitor feed is opened again; its initial state brings the DOWN made meanwhile.
  const downs = async () => (await gateway.state.events.read()).filter(e => e.type === "UPDATE" && e.connectionIds.includes(ourId));
  const recorded = Date.now() + 8000;
  while ((await downs()).length === 0 && Date.now() < recorded) await sleep(50);
  const [down] = await downs();
  t.is((down?.payload as { connections?: Record<string, { state?: string }> } | undefined)?.connections?.[ourId]?.state, "DOWN", "the DOWN, recorded once the store is back");
  t.is(down?.peer, nsmgr.address);

  const again = openServerStream(gateway.v1Address, MonitorConnectionService.monitorConnections, { pathSegments: [v1Segment("fwd-1", "fwd-1-id")], networkServices: [] });
  t.teardown(() => again.cancel());
  t.is((await again.next()).type, ConnectionEventType.INITIAL_STATE_TRANSFER);
  await callUnary(gateway.v1Address, NetworkServiceService.close, answer, { metadata: await fwdToken() });
  const deleted = await again.next(3000);
  t.is(deleted.type, ConnectionEventType.DELETE);
  t.truthy(deleted.connections[ourId]);
});
