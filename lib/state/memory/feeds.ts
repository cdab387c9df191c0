/**
 * The embedded feed store: feed specs, touch times and snapshots in Maps, its events in the memory
 * event log, fenced by the memory replica registry's leases (both of the same memory-store.ts).
 */
import { type FeedSnapshot, type FeedStore, checkFeedKey, checkIdleMs, checkText, feedEvent, feedLease } from "../feed-store.js";
import type { EventLog } from "../event-log.js";
import type { ReplicaRegistry } from "../replica-registry.js";
import { memoryAppendNow } from "./event-log.js";
import { memoryHolderNow } from "./replicas.js";

/**
 * The embedded feed store, on the memory event log and replica registry of the same state store:
 * a fenced append checks the lease and appends in one synchronous step (nothing can run between).
 */
export function createMemoryFeedStore(events: EventLog, replicas: ReplicaRegistry, now: () => number = Date.now): FeedStore {
  const appendNow = memoryAppendNow(events);
  const holderNow = memoryHolderNow(replicas);
  if (!appendNow || !holderNow) throw new TypeError("createMemoryFeedStore needs the memory event log and replica registry");
  const feeds = new Map<string, { spec: string; touched: number }>();
  const snapshots = new Map<string, FeedSnapshot>();
  return {
    async register(key, spec) {
      checkFeedKey(key);
      checkText("feed spec", spec);
      const feed = feeds.get(key);
      if (feed) feed.touched = now();
      else feeds.set(key, { spec, touched: now() });
    },
    async touch(keys) {
      for (const key of keys) checkFeedKey(key);
      const t = now();
      for (const key of keys) {
        const feed = feeds.get(key);
        if (feed) feed.touched = t;
      }
    },
    async list() {
      const t = now();
      return [...feeds].map(([key, { spec, touched }]) => ({ key, spec, idleMs: Math.max(0, t - touched) }));
    },
    async remove(key, ifIdleForMs) {
      checkFeedKey(key);
      checkIdleMs(ifIdleForMs);
      const feed = feeds.get(key);
      if (feed && ifIdleForMs !== undefined && now() - feed.touched < ifIdleForMs) return false;
      const removed = feeds.delete(key);
      return snapshots.delete(key) || removed;
    },
    async snapshot(key) {
      checkFeedKey(key);
      return snapshots.get(key);
    },
    async append(key, holder, event, state) {
      const entry = feedEvent(key, holder, event, state);
      if (holderNow(feedLease(key)) !== holder) return undefined;
      // The snapshot is in place before any follower sees the entry.
      return appendNow(entry, ({ position }) => {
        if (state !== undefined) snapshots.set(key, { position, state });
      }).position;
    },
  };
}
