/**
 * Monitor feeds. A feed is one upstream monitor subscription (e.g. "MonitorConnections to remote
 * NSMgr X with selector Y") whose events are appended to the event log as entries of the feed
 * (entry.feed = its key). Exactly one replica holds each feed, by the ReplicaRegistry lease
 * feedLease(key); client streams are served from the event log filtered by feed, starting from the
 * feed's snapshot (or resuming after a position), so they survive a handover between replicas.
 *
 * The store keeps, per feed: its spec (what a replica needs to open the upstream again), when a
 * client stream last touched it (store clock: the Redis server's for the Redis store), and its
 * snapshot (the feed's state after its last event, with that event's position). `append` is fenced:
 * the event and the snapshot are written in one atomic step, and only while the appender holds the
 * feed's lease, so a replica that lost its lease (e.g. during a pause) cannot write behind the new
 * holder's back.
 *
 * The interface and the checks both stores share; the stores are memory/feeds.ts and redis/feeds.ts.
 */
import { invalidArgument } from "../pipeline/errors.js";
import { type EventInput, checkEvent } from "./event-log.js";
import { checkId } from "./replica-registry.js";

export interface FeedInfo {
  readonly key: string;
  /** What the plane needs to open the upstream again (JSON text, opaque to the store). */
  readonly spec: string;
  /** Ms since a client stream last touched the feed (store clock); since registration if never touched. */
  readonly idleMs: number;
}

export interface FeedSnapshot {
  /** Position of the last event folded into `state`. */
  readonly position: string;
  /** The feed's state after that event (opaque text). */
  readonly state: string;
}

export interface FeedStore {
  /** Registers the feed if it is not registered (keeps an existing spec) and touches it. */
  register(key: string, spec: string): Promise<void>;
  /** Marks the feeds as having a client attached now (store clock). Unknown keys are ignored. */
  touch(keys: readonly string[]): Promise<void>;
  /** Every registered feed. */
  list(): Promise<FeedInfo[]>;
  /**
   * Forgets the feed (spec, touch time, snapshot). With `ifIdleForMs`, only when it has not been
   * touched for at least that long (checked atomically); returns whether it was removed.
   */
  remove(key: string, ifIdleForMs?: number): Promise<boolean>;
  /** The feed's snapshot, if any event has been appended to it since it was registered. */
  snapshot(key: string): Promise<FeedSnapshot | undefined>;
  /**
   * Appends `event` to the event log as an entry of this feed (entry.feed = key, trimmed to the
   * log's bounds like append()) and, when `state` is given, replaces the feed's snapshot with
   * { position, state }, in one atomic step, only when `holder` holds the lease feedLease(key).
   * Without `state` the snapshot stays as it was (still true of its own, older position: a reader
   * follows the entries after it). Returns the position, or undefined (nothing written) when the
   * lease is not held by `holder`. A feed that is not registered may still be appended to (the
   * lease is what counts).
   */
  append(key: string, holder: string, event: EventInput, state?: string): Promise<string | undefined>;
}

/** The ReplicaRegistry lease a feed's holder keeps. */
export function feedLease(key: string): string {
  return `feed:${key}`;
}

// ---- validation (shared by both stores) ----

export function checkFeedKey(key: string): void {
  checkId("feed key", key);
}

export function checkText(what: string, value: string): void {
  if (typeof value !== "string") throw invalidArgument(`${what} must be a string`);
}

export function checkIdleMs(ms: number | undefined): void {
  if (ms !== undefined && !(Number.isSafeInteger(ms) && ms >= 0)) throw invalidArgument(`ifIdleForMs must be a whole number of ms >= 0, got ${ms}`);
}

/** Validates a fenced append's arguments; returns the event as the feed's entry (feed = key). */
export function feedEvent(key: string, holder: string, event: EventInput, state: string | undefined): EventInput {
  checkFeedKey(key);
  checkId("replica id", holder);
  if (state !== undefined) checkText("feed state", state);
  checkEvent(event);
  return { ...event, feed: key };
}
