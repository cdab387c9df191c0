/**
 * Replica liveness and leases. Each pnsmgr replica heartbeats with a TTL; `alive()` lists the
 * replicas whose last heartbeat has not expired. A lease is a named, expiring, exclusive claim (e.g.
 * "who runs the upstream monitor subscription for peer X"): one replica holds it until it releases
 * it or stops renewing; then any replica may take it over. Expiry is judged on the store's clock
 * (the Redis server's for the Redis store), so replicas' clocks need not agree.
 *
 * The interface and its checks; the registries are memory/replicas.ts and redis/replicas.ts.
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
  /**
   * renew for many leases at once (one store round trip): extends each lease replicaId holds by ttlMs
   * from now and leaves the others alone. Resolves to the keys it did not renew (held by another
   * replica, expired, or free), in the order given.
   */
  renewMany(keys: readonly string[], replicaId: string, ttlMs: number): Promise<string[]>;
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
