/**
 * The Redis store's index of v1 connection records by path segment id (keys.ts: v1-segments), read
 * raw: put files a record under each of its segment ids, delete (and list's removal of long-expired
 * or unreadable records) takes exactly the deleted record's members out. What findBySegment answers
 * is covered, for both stores, by the state contract.
 */
import test from "ava";
import { randomUUID } from "node:crypto";
import { defaultEventLogBounds } from "../../../lib/state/event-log.js";
import { createRedisStateStore } from "../../../lib/state/redis/redis-store.js";
import { STALE_V1_RECORD_MS, type V1ConnectionRecord } from "../../../lib/state/v1-connection-store.js";
import { type RedisProcess, redisCommand, startRedis, stopAllRedis } from "../../support/redis.js";

let redis: RedisProcess | undefined;

test.before(async () => {
  redis = await startRedis();
});

test.after.always(async () => {
  await stopAllRedis();
});

function v1(id: string, segmentIds: string[], expires: number): V1ConnectionRecord {
  return {
    id,
    connection: { id, path: { index: 1, pathSegments: segmentIds.map(segment => ({ name: "n", id: segment })) } },
    route: { nextHop: "127.0.0.1:5004", networkServiceEndpointName: "nse", networkService: "ns", via: "learned" },
    expires,
    stamp: `stamp-${id}`,
    updatedAt: expires,
  };
}

test("put files a record under its segment ids; delete and list's cleanup remove exactly its members", async t => {
  t.timeout(20_000);
  const port = redis!.port;
  const prefix = `pnsmgr-test-${randomUUID()}:`;
  const store = await createRedisStateStore({
    kind: "redis",
    url: redis!.url,
    masterName: "mymaster",
    prefix,
    events: defaultEventLogBounds,
    waitReplicas: 0,
    waitTimeoutMs: 1000,
  });
  t.teardown(() => store.close());
  const members = async () => ((await redisCommand(port, "ZRANGE", `${prefix}v1-segments`, "0", "-1")) as string[]).map(m => m.replace("\0", "|")).sort();
  const now = Date.now();

  await store.v1Connections.put(v1("a", ["ca", "a", "shared"], now + 60_000));
  await store.v1Connections.put(v1("b", ["cb", "b", "shared"], now + 60_000));
  await store.v1Connections.put(v1("old", ["co", "old"], now - STALE_V1_RECORD_MS - 1000));
  t.deepEqual(await members(), ["a|a", "b|b", "ca|a", "cb|b", "co|old", "old|old", "shared|a", "shared|b"]);

  await store.v1Connections.delete("a");
  t.deepEqual(await members(), ["b|b", "cb|b", "co|old", "old|old", "shared|b"], "a's members are gone, b's shared one stays");

  await redisCommand(port, "HSET", `${prefix}v1-connections`, "junk", "not json");
  t.deepEqual(ids(await store.v1Connections.list(now)), ["b"]);
  t.deepEqual(await members(), ["b|b", "cb|b", "shared|b"], "the long-expired record's members went with it");
  t.is(await redisCommand(port, "HEXISTS", `${prefix}v1-connections`, "junk"), 0, "the unreadable record is removed as before");
  t.deepEqual(ids(await store.v1Connections.findBySegment("shared", now)), ["b"]);

  await store.v1Connections.put(v1("b", ["cb2", "b"], now + 60_000));
  t.deepEqual(await members(), ["b|b", "cb2|b"], "a put with a changed path files the record under its new segment ids only");
});

const ids = (records: readonly V1ConnectionRecord[]) => records.map(r => r.id).sort();
