/**
 * What a state store is and how one is described (memory or Redis), on its own so that the stores
 * (memory/, redis/) and the factory that picks one (state.ts) both build on it without importing each
 * other.
 */
import type { ConnectionStore } from "./connection-store.js";
import type { EventLog, EventLogBounds } from "./event-log.js";
import type { FeedStore } from "./feed-store.js";
import type { ReplicaRegistry } from "./replica-registry.js";
import type { RouteStore } from "./route-store.js";
import type { V1ConnectionStore } from "./v1-connection-store.js";
import type { RedisSecurity } from "./redis/security.js";

export interface StateStore {
  /** "memory", or "redis <host:port>" / "redis sentinel <name> via <sentinels>": for logs, no secrets. */
  readonly description: string;
  readonly connections: ConnectionStore;
  /** v1 connections by our segment id, for replicas carrying on each other's connections (used when `shared`). */
  readonly v1Connections: V1ConnectionStore;
  readonly routes: RouteStore;
  readonly events: EventLog;
  /**
   * Monitor feeds: their specs, touch times and snapshots; a feed's events go to `events` (entry.feed
   * = its key) through feeds.append, fenced by the lease feedLease(key) in `replicas`.
   */
  readonly feeds: FeedStore;
  readonly replicas: ReplicaRegistry;
  /** Closes connections and ends followers; further calls fail. */
  close(): Promise<void>;
}

export interface MemoryStateOptions {
  readonly kind: "memory";
  readonly events: EventLogBounds;
}

export interface SentinelAddress {
  readonly host: string;
  readonly port: number;
}

export interface RedisStateOptions {
  readonly kind: "redis";
  /** redis://[user:password@]host:port[/db] or rediss://…; unused with sentinels. */
  readonly url?: string;
  /** Sentinel mode: the sentinels to ask for the master `masterName`. */
  readonly sentinels?: readonly SentinelAddress[];
  readonly masterName: string;
  /** Prepended to every key ("pnsmgr:"). */
  readonly prefix: string;
  readonly events: EventLogBounds;
  /**
   * Connection-record writes are acknowledged only after this many replicas have them (WAIT);
   * 0 acknowledges once the master has them.
   */
  readonly waitReplicas: number;
  /** How long a connection-record write waits for its replicas before failing with UNAVAILABLE. */
  readonly waitTimeoutMs: number;
  /** TCP connect timeout of each connection attempt (default 1000). */
  readonly connectTimeoutMs?: number;
  /** A command without a reply after this long fails with UNAVAILABLE (default 1000). */
  readonly commandTimeoutMs?: number;
  /** createStateStore fails if Redis is not reachable within this long (default 10000). */
  readonly startupTimeoutMs?: number;
  /** ACL user / password, the sentinels' password, TLS files (redis/security.ts). */
  readonly security?: RedisSecurity;
}

export type StateOptions = MemoryStateOptions | RedisStateOptions;

/** The URL without its password, for messages. */
export function redactUrl(value: string): string {
  return value.replace(/\/\/([^@/]*):([^@/]*)@/, "//$1:***@");
}
