/**
 * The Redis replica registry: heartbeats in a sorted set scored by expiry and leases as keys with a
 * PX expiry (keys.ts), each change one Lua script judged on the server's clock, so the replicas'
 * own clocks need not agree.
 */
import { type ReplicaRegistry, checkId, checkTtl } from "../replica-registry.js";
import { NOW_MS, script } from "./lua.js";
import type { RedisSession } from "./session.js";

const HEARTBEAT = script(`${NOW_MS}
redis.call('ZADD', KEYS[1], string.format('%d', now + tonumber(ARGV[2])), ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%d', now))
return 1`);

const ALIVE = script(`${NOW_MS}
return redis.call('ZRANGEBYSCORE', KEYS[1], string.format('(%d', now), '+inf')`);

const ACQUIRE = script(`local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if v then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`);

/** Renews every key given that ARGV[1] holds, for ARGV[2] ms; returns the (1-based) indexes of the keys it did not renew. */
const RENEW_MANY = script(`local lost = {}
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then redis.call('PEXPIRE', key, ARGV[2]) else lost[#lost + 1] = i end
end
return lost`);

const RELEASE = script(`if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) return 1 end
return 0`);

export function redisReplicaRegistry(session: RedisSession): ReplicaRegistry {
  const { main, keys } = session;
  return {
    async heartbeat(replicaId, ttlMs) {
      checkId("replica id", replicaId);
      checkTtl(ttlMs);
      await session.guard(`heartbeat ${replicaId}`, () => HEARTBEAT(main, [keys.replicas], [replicaId, ttlMs]));
    },
    async remove(replicaId) {
      await session.guard(`remove replica ${replicaId}`, () => main.zrem(keys.replicas, replicaId));
    },
    async alive() {
      const ids = await session.guard("alive replicas", () => ALIVE(main, [keys.replicas], []));
      return (ids as string[]).slice().sort();
    },
    async tryAcquire(name, replicaId, ttlMs) {
      checkId("lease key", name);
      checkId("replica id", replicaId);
      checkTtl(ttlMs);
      return (await session.guard(`acquire lease ${name}`, () => ACQUIRE(main, [keys.lease(name)], [replicaId, ttlMs]))) === 1;
    },
    async renew(name, replicaId, ttlMs) {
      checkTtl(ttlMs);
      const lost = await session.guard(`renew lease ${name}`, () => RENEW_MANY(main, [keys.lease(name)], [replicaId, ttlMs]));
      return (lost as number[]).length === 0;
    },
    async renewMany(names, replicaId, ttlMs) {
      checkTtl(ttlMs);
      if (names.length === 0) return [];
      const lost = await session.guard(`renew ${names.length} lease(s)`, () => RENEW_MANY(main, names.map(name => keys.lease(name)), [replicaId, ttlMs]));
      return (lost as number[]).map(i => names[i - 1]!);
    },
    async release(name, replicaId) {
      return (await session.guard(`release lease ${name}`, () => RELEASE(main, [keys.lease(name)], [replicaId]))) === 1;
    },
    async holder(name) {
      return (await session.guard(`lease holder ${name}`, () => main.get(keys.lease(name)))) ?? undefined;
    },
  };
}
