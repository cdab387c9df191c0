/**
 * The embedded replica registry: heartbeats and leases in Maps, judged on this process's clock (or
 * the one a test gives). Its synchronous lease lookup is what lets the memory feed store fence an
 * append with nothing running between the check and the write.
 */
import { type ReplicaRegistry, checkId, checkTtl } from "../replica-registry.js";

const memoryHolders = new WeakMap<ReplicaRegistry, (key: string) => string | undefined>();

/**
 * The synchronous lease lookup of a registry made by createMemoryReplicaRegistry (internal, for
 * memory/feeds.ts: a fenced append checks the lease and appends in one synchronous step); undefined
 * for any other registry.
 */
export function memoryHolderNow(registry: ReplicaRegistry): ((key: string) => string | undefined) | undefined {
  return memoryHolders.get(registry);
}

export function createMemoryReplicaRegistry(now: () => number = Date.now): ReplicaRegistry {
  const replicas = new Map<string, number>();
  const leases = new Map<string, { holder: string; expiresAt: number }>();
  const current = (key: string) => {
    const lease = leases.get(key);
    if (lease && lease.expiresAt <= now()) {
      leases.delete(key);
      return undefined;
    }
    return lease;
  };
  const renewNow = (key: string, replicaId: string, ttlMs: number): boolean => {
    const lease = current(key);
    if (!lease || lease.holder !== replicaId) return false;
    lease.expiresAt = now() + ttlMs;
    return true;
  };
  const registry: ReplicaRegistry = {
    async heartbeat(replicaId, ttlMs) {
      checkId("replica id", replicaId);
      checkTtl(ttlMs);
      replicas.set(replicaId, now() + ttlMs);
    },
    async remove(replicaId) {
      replicas.delete(replicaId);
    },
    async alive() {
      const t = now();
      for (const [id, expiresAt] of replicas) if (expiresAt <= t) replicas.delete(id);
      return [...replicas.keys()].sort();
    },
    async tryAcquire(key, replicaId, ttlMs) {
      checkId("lease key", key);
      checkId("replica id", replicaId);
      checkTtl(ttlMs);
      const lease = current(key);
      if (lease && lease.holder !== replicaId) return false;
      leases.set(key, { holder: replicaId, expiresAt: now() + ttlMs });
      return true;
    },
    async renew(key, replicaId, ttlMs) {
      checkTtl(ttlMs);
      return renewNow(key, replicaId, ttlMs);
    },
    async renewMany(keys, replicaId, ttlMs) {
      checkTtl(ttlMs);
      return keys.filter(key => !renewNow(key, replicaId, ttlMs));
    },
    async release(key, replicaId) {
      const lease = current(key);
      if (!lease || lease.holder !== replicaId) return false;
      leases.delete(key);
      return true;
    },
    async holder(key) {
      return current(key)?.holder;
    },
  };
  memoryHolders.set(registry, key => current(key)?.holder);
  return registry;
}
