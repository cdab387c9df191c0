/**
 * Replica liveness and leases. Each pnsmgr replica heartbeats with a TTL; `alive()` lists the
 * replicas whose last heartbeat has not expired. A lease is a named, expiring, exclusive claim (e.g.
 * "who runs the upstream monitor subscription for peer X"): one replica holds it until it releases
 * it or stops renewing; then any replica may take it over. Expiry is judged on the store's clock
 * (the Redis server's for the Redis store), so replicas' clocks need not agree.
 */
import { invalidArgument } from "../pipeline/errors.js";

export interface ReplicaRegistry {
  /** Marks the replica alive for ttlMs from now. */
  heartbeat(replicaId: string, ttlMs: number): Promise<void>;
  /** Forgets the replica at once (graceful shutdown). */
  remove(replicaId: string): Promise<void>;
  /** Ids of the replicas whose heartbeat has not expired, sorted. */
  alive(): Promise<string[]>;
  /** Takes the lease if it is free or expired (or already ours: then renews it); true when held. */
  tryAcquire(key: string, replicaId: string, ttlMs: number): Promise<boolean>;
  /** Extends the lease by ttlMs from now, only when replicaId holds it; false otherwise. */
  renew(key: string, replicaId: string, ttlMs: number): Promise<boolean>;
  /** Gives the lease up, only when replicaId holds it; false otherwise. */
  release(key: string, replicaId: string): Promise<boolean>;
  /** The replica holding the lease, if any. */
  holder(key: string): Promise<string | undefined>;
}

export function checkTtl(ttlMs: number): void {
  if (!(Number.isSafeInteger(ttlMs) && ttlMs >= 1)) throw invalidArgument(`ttl must be a whole number of ms >= 1, got ${ttlMs}`);
}

export function checkId(what: string, id: string): void {
  if (typeof id !== "string" || id === "") throw invalidArgument(`${what} must be a non-empty string`);
}

const memoryHolders = new WeakMap<ReplicaRegistry, (key: string) => string | undefined>();

/**
 * The synchronous lease lookup of a registry made by createMemoryReplicaRegistry (internal, for
 * feed-store.ts: a fenced append checks the lease and appends in one synchronous step); undefined
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
      const lease = current(key);
      if (!lease || lease.holder !== replicaId) return false;
      lease.expiresAt = now() + ttlMs;
      return true;
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
