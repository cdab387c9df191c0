/**
 * Redis-only trimming: a log far over its length bound (maxLen lowered between runs) is trimmed at
 * most TRIM_MAX_BATCH (1000) entries per append, trimmedThrough tracking each batch exactly, until it
 * is back within the bound.
 */
import test from "ava";
import { randomUUID } from "node:crypto";
import { type EventLogBounds, defaultEventLogBounds } from "../../../lib/state/event-log.js";
import { createRedisStateStore } from "../../../lib/state/redis/redis-store.js";
import { type RedisProcess, startRedis, stopAllRedis } from "../../support/redis.js";

let redis: RedisProcess | undefined;

test.before(async () => {
  redis = await startRedis();
});

test.after.always(async () => {
  await stopAllRedis();
});

const event = (n: number) => ({ connectionIds: [`c${n}`], peer: "p", type: "UPDATE", payload: { n }, at: n });

test("a log far over a lowered maxLen shrinks by at most 1000 entries per append, trimmedThrough exact at each step", async t => {
  t.timeout(60_000);
  const prefix = `pnsmgr-test-${randomUUID()}:`;
  const open = (events: Partial<EventLogBounds>) =>
    createRedisStateStore({ kind: "redis", url: redis!.url, masterName: "mymaster", prefix, events: { ...defaultEventLogBounds, ...events }, waitReplicas: 0, waitTimeoutMs: 1000 });
  const big = await open({ maxLen: 10_000 });
  t.teardown(() => big.close());
  const p: string[] = [];
  for (let n = 0; n < 2500; n++) p.push(await big.events.append(event(n)));
  t.is(await big.events.trimmedThrough(), "0-0");

  const small = await open({ maxLen: 10, trim: "exact" });
  t.teardown(() => small.close());
  p.push(await small.events.append(event(2500)));
  t.is(await small.events.trimmedThrough(), p[999]!);
  t.is((await small.events.read({ limit: 10_000 }))[0]?.position, p[1000]);
  p.push(await small.events.append(event(2501)));
  t.is(await small.events.trimmedThrough(), p[1999]!);
  p.push(await small.events.append(event(2502)));
  t.is(await small.events.trimmedThrough(), p[2492]!);
  const kept = await small.events.read({ limit: 10_000 });
  t.deepEqual(kept.map(e => e.position), p.slice(-10));
});
