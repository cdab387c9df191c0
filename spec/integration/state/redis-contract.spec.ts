/** The state store contract against a real redis-server started for this file (own key prefix per test). */
import test from "ava";
import { randomUUID } from "node:crypto";
import { defaultEventLogBounds } from "../../../lib/state/event-log.js";
import { createRedisStateStore } from "../../../lib/state/redis/redis-store.js";
import { type RedisProcess, startRedis, stopAllRedis } from "../../support/redis.js";
import { stateContract } from "./contract.js";

let redis: RedisProcess | undefined;

test.before(async () => {
  redis = await startRedis();
});

test.after.always(async () => {
  await stopAllRedis();
});

stateContract("redis", async options => {
  if (!redis) throw new Error("redis-server not started");
  return createRedisStateStore({
    kind: "redis",
    url: redis.url,
    masterName: "mymaster",
    prefix: `pnsmgr-test-${randomUUID()}:`,
    events: { ...defaultEventLogBounds, ...options?.events },
    waitReplicas: 0,
    waitTimeoutMs: 1000,
  });
});
