/**
 * Redis faults against real redis-server / Sentinel processes started here:
 * - Redis killed: every call fails fast with UNAVAILABLE (no hang, no queue); Redis back on the
 *   same port: calls succeed again within 2 s.
 * - Redis frozen (SIGSTOP): calls fail with UNAVAILABLE after the command timeout, not never.
 * - Sentinel failover (master SIGKILLed): no acknowledged connection record is lost.
 * Serial: each test owns its processes, killed in teardown.
 */
import test, { type ExecutionContext } from "ava";
import { firstValueFrom, toArray, timeout } from "rxjs";
import { Code, ProxyError } from "../../../lib/pipeline/errors.js";
import { createLogger, type Logger } from "../../../lib/log.js";
import type { ConnectionRecord } from "../../../lib/state/connection-store.js";
import { defaultEventLogBounds } from "../../../lib/state/event-log.js";
import { createRedisStateStore } from "../../../lib/state/redis/redis-store.js";
import type { RedisStateOptions, StateStore } from "../../../lib/state/state.js";
import { sentinelMaster, startRedis, startSentinel, stopAllRedis } from "../../support/redis.js";
import { freePort } from "../../support/ports.js";
import { sleep } from "../../support/wait.js";

function record(id: string): ConnectionRecord {
  return { id, nextHop: "10.0.0.1:5001", networkService: "icmp@domain-b", remoteNsm: "nsmgr@10.0.0.1:5001", updatedAt: Date.now() };
}

async function openStore(t: ExecutionContext, options: Partial<RedisStateOptions>, log?: Logger): Promise<StateStore> {
  const store = await createRedisStateStore({
    kind: "redis",
    masterName: "mymaster",
    prefix: "pnsmgr-faults:",
    events: defaultEventLogBounds,
    waitReplicas: 0,
    waitTimeoutMs: 1000,
    ...options,
  }, log ? { log } : {});
  t.teardown(() => store.close());
  return store;
}

function assertUnavailable(t: ExecutionContext, result: PromiseSettledResult<unknown>, what: string): void {
  if (result.status === "fulfilled") {
    t.fail(`${what} succeeded while Redis was down`);
    return;
  }
  const error: unknown = result.reason;
  t.true(error instanceof ProxyError && error.code === Code.UNAVAILABLE, `${what}: ${String(error)}`);
  t.regex((error as Error).message, /^state store \(redis[^)]*\): /, what);
}

/** Retries `call` every 20 ms until it succeeds; returns the ms it took. */
async function until(call: () => Promise<unknown>, limitMs: number, what: string): Promise<number> {
  const start = Date.now();
  for (;;) {
    try {
      await call();
      return Date.now() - start;
    } catch (error: unknown) {
      if (Date.now() - start > limitMs) throw new Error(`${what}: still failing after ${limitMs} ms: ${String(error)}`);
      await sleep(20);
    }
  }
}

test.afterEach.always(async () => {
  await stopAllRedis();
});

test.serial("Redis killed: calls fail fast with UNAVAILABLE; back on the same port: calls succeed again within 2 s", async t => {
  t.timeout(20_000);
  const redis = await startRedis();
  const lines: string[] = [];
  const store = await openStore(t, { url: redis.url }, createLogger("debug", line => lines.push(line)));
  await store.connections.put(record("before"));
  const start = await store.events.append({ connectionIds: ["before"], peer: "p", type: "UPDATE", payload: 1, at: 1 });
  const follower = firstValueFrom(store.events.follow({ after: start }).pipe(toArray(), timeout(5000)));

  await redis.kill("SIGKILL");
  const killedAt = Date.now();
  const calls: [string, () => Promise<unknown>][] = [
    ["connections.get", () => store.connections.get("before")],
    ["connections.put", () => store.connections.put(record("during"))],
    ["connections.delete", () => store.connections.delete("before")],
    ["connections.list", () => store.connections.list()],
    ["routes.set", () => store.routes.set("nse", "tcp://x:1")],
    ["routes.get", () => store.routes.get("nse")],
    ["events.append", () => store.events.append({ connectionIds: [], peer: "p", type: "UPDATE", payload: 2, at: 2 })],
    ["events.read", () => store.events.read()],
    ["replicas.heartbeat", () => store.replicas.heartbeat("r1", 1000)],
    ["replicas.alive", () => store.replicas.alive()],
    ["replicas.tryAcquire", () => store.replicas.tryAcquire("lease", "r1", 1000)],
    ["events.last", () => store.events.last()],
    ["events.trimmedThrough", () => store.events.trimmedThrough()],
    ["feeds.register", () => store.feeds.register("feed", "{}")],
    ["feeds.touch", () => store.feeds.touch(["feed"])],
    ["feeds.list", () => store.feeds.list()],
    ["feeds.remove", () => store.feeds.remove("feed", 1000)],
    ["feeds.snapshot", () => store.feeds.snapshot("feed")],
    ["feeds.append", () => store.feeds.append("feed", "r1", { connectionIds: [], peer: "p", type: "UPDATE", payload: 3, at: 3 }, "state")],
  ];
  const results = await Promise.allSettled(calls.map(([, call]) => call()));
  results.forEach((result, i) => assertUnavailable(t, result, calls[i]![0]));
  // A burst does not queue up: every call is answered, at once.
  const burst = await Promise.allSettled(Array.from({ length: 2000 }, (_, i) => store.connections.get(`burst-${i}`)));
  t.true(burst.every(r => r.status === "rejected" && (r.reason as ProxyError).code === Code.UNAVAILABLE));
  const failFastMs = Date.now() - killedAt;
  t.log(`down: ${calls.length} kinds of call + a burst of 2000 all failed with UNAVAILABLE within ${failFastMs} ms of the kill`);
  t.true(failFastMs < 1000, `failing took ${failFastMs} ms`);
  // A follower ends with UNAVAILABLE too (and can resume from its last position later).
  const followError = await t.throwsAsync(follower, { instanceOf: ProxyError });
  t.is(followError?.code, Code.UNAVAILABLE);

  await sleep(700); // down for a while: the client is in its reconnect loop
  const restartedAt = Date.now();
  const recovered = until(() => store.connections.list(), 2000, "recovery").then(() => Date.now() - restartedAt);
  recovered.catch(() => undefined); // awaited below
  await redis.restart();
  const upMs = Date.now() - restartedAt;
  const recoveryMs = await recovered;
  t.log(`recovered: first successful call ${recoveryMs} ms after redis-server was started again (it answered PING after ${upMs} ms)`);
  t.true(recoveryMs < 2000);
  // Every kind of call works again (the restarted Redis is empty: it has no persistence).
  await store.connections.put(record("after"));
  t.like(await store.connections.get("after"), { id: "after" });
  const again = await store.events.append({ connectionIds: [], peer: "p", type: "UPDATE", payload: 3, at: 3 });
  t.deepEqual((await store.events.read()).map(e => e.position), [again]);
  t.true(await store.replicas.tryAcquire("lease", "r1", 1000));
  // One warning for the outage and one line for the return (not one per retry or per follower).
  t.is(lines.filter(l => / warn state store connection lost .*connection=main/.test(l)).length, 1, lines.join("\n"));
  t.is(lines.filter(l => / info state store reconnected .*connection=main/.test(l)).length, 1, lines.join("\n"));
  t.regex(lines.join("\n"), /store="redis 127\.0\.0\.1:\d+"/);
  t.false(lines.some(l => l.includes("redis://")), "no URLs (which may hold passwords) in logs");
});

test.serial("Redis frozen (SIGSTOP): calls fail with UNAVAILABLE after the command timeout; thawed: calls succeed", async t => {
  t.timeout(20_000);
  const redis = await startRedis();
  const store = await openStore(t, { url: redis.url, commandTimeoutMs: 500 });
  await store.routes.set("nse", "tcp://a:1");
  await redis.kill("SIGSTOP");
  const frozenAt = Date.now();
  const results = await Promise.allSettled([store.routes.get("nse"), store.connections.put(record("frozen")), store.replicas.alive()]);
  const tookMs = Date.now() - frozenAt;
  results.forEach((result, i) => assertUnavailable(t, result, `call ${i}`));
  t.log(`frozen: calls failed with UNAVAILABLE after ${tookMs} ms (command timeout 500 ms)`);
  t.true(tookMs >= 400 && tookMs < 2000, `took ${tookMs} ms`);
  await redis.kill("SIGCONT");
  const recoveryMs = await until(() => store.routes.get("nse"), 2000, "thaw");
  t.log(`thawed: calls succeed again after ${recoveryMs} ms`);
  t.is(await store.routes.get("nse"), "tcp://a:1");
});

test.serial("Sentinel failover (master SIGKILLed): every acknowledged connection record is on the promoted master", async t => {
  t.timeout(35_000);
  // Two replicas: WAIT 1 stays satisfiable after one is promoted (the other follows the new master).
  const master = await startRedis();
  const replicas = [await startRedis({ replicaOf: master }), await startRedis({ replicaOf: master })];
  const sentinel = await startSentinel({ master, replicas: 2, downAfterMs: 1000 });
  const store = await openStore(t, {
    sentinels: [{ host: "127.0.0.1", port: sentinel.port }],
    masterName: "mymaster",
    waitReplicas: 1,
    waitTimeoutMs: 500,
  });
  t.regex(store.description, /^redis sentinel mymaster via 127\.0\.0\.1:\d+$/);

  // Four writers put records continuously, before, during and after the failover.
  const acked = new Set<string>();
  const ackedAt: number[] = [];
  const failures: unknown[] = [];
  let writing = true;
  let failedAt: number | undefined;
  const writers = Array.from({ length: 4 }, async (_, w) => {
    for (let i = 0; writing; i++) {
      const id = `w${w}-${i}`;
      try {
        await store.connections.put(record(id));
        acked.add(id);
        ackedAt.push(Date.now());
      } catch (error: unknown) {
        failures.push(error);
        failedAt ??= Date.now();
        await sleep(20);
      }
    }
  });
  const stopWriters = async () => {
    writing = false;
    await Promise.all(writers);
  };
  t.teardown(stopWriters);

  await until(async () => {
    if (acked.size < 200) throw new Error(`${acked.size} acked`);
  }, 10_000, "200 acknowledged writes");
  const ackedBeforeKill = acked.size;
  await master.kill("SIGKILL");
  const killedAt = Date.now();
  failedAt = undefined;

  const readMs = await until(() => store.connections.list(), 20_000, "reads after failover");
  await until(async () => {
    if (failedAt === undefined || !ackedAt.some(at => at > failedAt!)) throw new Error("no write acknowledged since the first failure");
  }, 20_000, "acknowledged writes after failover");
  const writeMs = ackedAt.find(at => at > failedAt!)! - killedAt;
  t.log(`failover: first read on the promoted master ${readMs} ms, first acknowledged (WAIT 1) write ${writeMs} ms after SIGKILL of the master`);
  const promoted = await sentinelMaster(sentinel);
  t.true(replicas.some(r => r.address === promoted), `the sentinel promoted a replica (${promoted})`);
  await sleep(200);
  await stopWriters();

  const stored = new Set((await store.connections.list()).map(r => r.id));
  const lost = [...acked].filter(id => !stored.has(id));
  t.log(`${acked.size} writes acknowledged (${ackedBeforeKill} before the kill), ${failures.length} failed with UNAVAILABLE, ${lost.length} acknowledged lost; ${Date.now() - killedAt} ms since the kill`);
  t.deepEqual(lost, [], "acknowledged records lost in the failover");
  t.true(acked.size > ackedBeforeKill, "writes were acknowledged after the failover");
  for (const error of failures) t.true(error instanceof ProxyError && error.code === Code.UNAVAILABLE, String(error));
});

test.serial("WAIT: with no replica connected, a connection-record write is not acknowledged (UNAVAILABLE)", async t => {
  t.timeout(20_000);
  const redis = await startRedis();
  const store = await openStore(t, { url: redis.url, waitReplicas: 1, waitTimeoutMs: 300 });
  const started = Date.now();
  const error = await t.throwsAsync(store.connections.put(record("unreplicated")), { instanceOf: ProxyError });
  t.is(error?.code, Code.UNAVAILABLE);
  t.regex(error?.message ?? "", /only 0 of 1 replica\(s\) acknowledged within 300 ms/);
  t.true(Date.now() - started < 1500);
  // Reads are not held up by the durable connection's WAIT, and routes/events do not WAIT.
  await store.routes.set("nse", "tcp://a:1");
  t.is(await store.routes.get("nse"), "tcp://a:1");
  // Once a replica is in sync, writes are acknowledged again (right after a sync, Redis 7.0's first
  // replica ack can take a few hundred ms, so the first WAIT may still time out).
  await startRedis({ replicaOf: redis });
  const ackMs = await until(() => store.connections.put(record("replicated")), 3000, "acknowledged write with a replica");
  t.log(`with a replica in sync: a write was acknowledged after ${ackMs} ms`);
  t.like(await store.connections.get("replicated"), { id: "replicated" });
});

test.serial("Redis not reachable at start-up: the store is not created (UNAVAILABLE after the start-up timeout)", async t => {
  t.timeout(10_000);
  const port = await freePort(); // nothing listens here
  const started = Date.now();
  const error = await t.throwsAsync(
    createRedisStateStore({ kind: "redis", url: `redis://:secret@127.0.0.1:${port}`, masterName: "mymaster", prefix: "p:", events: defaultEventLogBounds, waitReplicas: 0, waitTimeoutMs: 1000, startupTimeoutMs: 400 }),
    { instanceOf: ProxyError },
  );
  const tookMs = Date.now() - started;
  t.is(error?.code, Code.UNAVAILABLE);
  t.regex(error?.message ?? "", new RegExp(`^state store \\(redis 127\\.0\\.0\\.1:${port}\\): connect: .*not reachable within 400 ms`));
  t.false(error?.message.includes("secret"));
  t.true(tookMs >= 350 && tookMs < 2000, `took ${tookMs} ms`);
});
