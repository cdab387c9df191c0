/**
 * The leases of the feeds this replica runs: the ReplicaRegistry lease feedLease(key), taken for
 * leaseMs and renewed every round, all of this replica's feeds in one store round trip. Taking a free
 * lease is how a replica takes over a feed whose holder died or let go; a renewal refused means
 * another replica holds the feed now.
 */
import { feedLease } from "../../state/feed-store.js";
import type { ReplicaRegistry } from "../../state/replica-registry.js";

export interface FeedLeases {
  /** Takes the feed's lease if it is free or expired (or already ours); true when ours. */
  acquire(key: string): Promise<boolean>;
  /** Extends our leases of the feeds given by leaseMs, in one store round trip; resolves to the feeds no longer ours. */
  renewAll(keys: readonly string[]): Promise<string[]>;
  /** Gives our lease up, so that another replica may take the feed over at once. */
  release(key: string): Promise<boolean>;
}

export function createFeedLeases(replicas: ReplicaRegistry, replicaId: string, leaseMs: number): FeedLeases {
  return {
    acquire: key => replicas.tryAcquire(feedLease(key), replicaId, leaseMs),
    async renewAll(keys) {
      // The store answers in lease names; map them back to feed keys rather than assume feedLease inverts.
      const byLease = new Map(keys.map(key => [feedLease(key), key]));
      const lost = await replicas.renewMany([...byLease.keys()], replicaId, leaseMs);
      return lost.map(lease => byLease.get(lease)!);
    },
    release: key => replicas.release(feedLease(key), replicaId),
  };
}
