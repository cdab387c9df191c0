/**
 * The leases of the feeds this replica runs: the ReplicaRegistry lease feedLease(key), taken for
 * leaseMs and renewed every round. Taking a free lease is how a replica takes over a feed whose
 * holder died or let go; a renewal refused means another replica holds the feed now.
 */
import { feedLease } from "../../state/feed-store.js";
import type { ReplicaRegistry } from "../../state/replica-registry.js";

export interface FeedLeases {
  /** Takes the feed's lease if it is free or expired (or already ours); true when ours. */
  acquire(key: string): Promise<boolean>;
  /** Extends our lease by leaseMs; false when it is no longer ours. */
  renew(key: string): Promise<boolean>;
  /** Gives our lease up, so that another replica may take the feed over at once. */
  release(key: string): Promise<boolean>;
}

export function createFeedLeases(replicas: ReplicaRegistry, replicaId: string, leaseMs: number): FeedLeases {
  return {
    acquire: key => replicas.tryAcquire(feedLease(key), replicaId, leaseMs),
    renew: key => replicas.renew(feedLease(key), replicaId, leaseMs),
    release: key => replicas.release(feedLease(key), replicaId),
  };
}
