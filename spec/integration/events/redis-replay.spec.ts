/**
 * The event log on a real redis-server (started by the test): a gateway on Redis records the seed
 * monitor events in the Redis Stream, `pnsmgr events --redis` (or REDIS_URL) replays them straight
 * from Redis, filtered and in order, and --follow tails it; while Redis is down the gateway keeps
 * relaying (warning with a count) and records again once it is back (shown on the v1 monitor).
 */
import test from "ava";
import { ConnectionEventType, State } from "../../../generated/nsm/connection.js";
import { NetworkServiceService } from "../../../generated/nsm/networkservice.js";
import type { Logger } from "../../../lib/log.js";
import { positionTime } from "../../../lib/state/event-log.js";
import { type RedisStateOptions, type StateStore, createStateStore, stateOptionsFromEnv } from "../../../lib/state/state.js";
import { callUnary, closeAll } from "../../support/grpc.js";
import { startTestGateway, stopGateways } from "../../support/gateway.js";
import { startRedis, stopAllRedis } from "../../support/redis.js";
import { killClis, linesOf, parsed, runEventsCli, seedScenario, startEventsCli, startRemotes, storedEvents, v1Connection } from "./_support.js";
import { sleep, within } from "../../support/wait.js";
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

test.serial("Redis down: relaying goes on with a warning and a count; recording resumes when it is back", async t => {
  t.timeout(30_000);
  const warnings: string[] = [];
  const infos: string[] = [];
  const log: Logger = {
    debug() {},
    info: (msg, fields) => infos.push(`${msg} ${JSON.stringify(fields)}`),
    warn: (msg, fields) => warnings.push(`${msg} ${JSON.stringify(fields)}`),
    error() {},
  };
  // The v1 plane: its monitor needs no store to relay (the seed monitor reads connection records).
  const redis = await startRedis();
  const state = await createStateStore(redisOptions(redis.url));
  stores.add(state);
  const { gateway, nsmgr, ourId, nsmgrId, stream, answer } = await v1Connection({ state, log });
  t.teardown(() => stream.cancel());
  await storedEvents(gateway, 1);

  await redis.kill();
  nsmgr.connectionDown(nsmgrId);
  const down = await stream.next(3000);
  t.is(down.type, ConnectionEventType.UPDATE, "the client still gets the event");
  t.is(down.connections[ourId]?.state, State.DOWN);
  const deadline = Date.now() + 5000;
  while (!warnings.some(w => w.startsWith("monitor event log:")) && Date.now() < deadline) await sleep(20);
  t.regex(warnings.find(w => w.startsWith("monitor event log:")) ?? "", /could not be recorded; relaying goes on .*"lost":1/);

  await redis.restart(); // empty: no persistence
  const until = Date.now() + 5000;
  while ((await gateway.state.events.read().catch(() => undefined)) === undefined && Date.now() < until) await sleep(50);
  await callUnary(gateway.v1Address, NetworkServiceService.close, answer, { metadata: await fwdToken() });
  t.is((await stream.next(3000)).type, ConnectionEventType.DELETE);
  const recorded = await storedEvents(gateway, 1);
  t.deepEqual(recorded.map(e => [e.type, e.peer, e.connectionIds]), [["DELETE", nsmgr.address, [ourId]]], "recording again");
  // Logged once the append's answer is back, which may be just after the entry is readable. At least the
  // DOWN above was lost; an event racing the restart may be too.
  const again = /^monitor event log: recording again \{"lost":[1-9]\d*\}/;
  const logged = Date.now() + 3000;
  while (!infos.some(i => again.test(i)) && Date.now() < logged) await sleep(20);
  t.true(infos.some(i => again.test(i)), infos.join("\n"));
});
