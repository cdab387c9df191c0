/**
 * The embedded state store (one replica, nothing shared): the memory units assembled into one
 * StateStore. The feed store is built on this store's own event log and replica registry, which is
 * what lets its append be fenced synchronously.
 */
import type { EventLogBounds } from "../event-log.js";
import type { StateStore } from "../state-store.js";
import { createMemoryEventLog } from "./event-log.js";
import { createMemoryFeedStore } from "./feeds.js";
import { createMemoryConnectionStore, createMemoryRouteStore, createMemoryV1ConnectionStore } from "./records.js";
import { createMemoryReplicaRegistry } from "./replicas.js";

export interface MemoryStateStoreOptions {
  readonly events?: Partial<EventLogBounds>;
  /** Clock for event positions, heartbeats, leases and feed idle times (tests). */
  readonly now?: () => number;
}

export function createMemoryStateStore(options: MemoryStateStoreOptions = {}): StateStore {
  const events = createMemoryEventLog({ ...(options.events ? { bounds: options.events } : {}), ...(options.now ? { now: options.now } : {}) });
  const replicas = createMemoryReplicaRegistry(options.now);
  return {
    description: "memory",
    connections: createMemoryConnectionStore(),
    v1Connections: createMemoryV1ConnectionStore(),
    routes: createMemoryRouteStore(),
    events,
    feeds: createMemoryFeedStore(events, replicas, options.now),
    replicas,
    async close() {
      events.close();
    },
  };
}
