/**
 * The monitor event log: every monitor event crossing the proxy, appended in order, bounded by
 * length and age, readable by time / connection / peer, and followable live. Each entry has a
 * position ("<ms>-<seq>", the form of a Redis Stream id) that a client can resume from: reading or
 * following "after" a position yields exactly the entries appended after it, in order, with no
 * duplicates (as long as they have not been trimmed away).
 *
 * Positions compare by (ms, seq); ms is the append time on the log's clock (the Redis server's clock
 * for the Redis store), which is what `from` / `to` filter on. `at` is the event's own time as the
 * caller gave it, stored and returned untouched.
 *
 * An entry may belong to a monitor feed (`feed`, see feed-store.ts) and carry the event as it is
 * delivered to clients (`wire`); both are stored only when given. Trimming is tracked:
 * `trimmedThrough()` is the newest position ever trimmed away, so a reader can tell whether resuming
 * after a position would miss entries.
 *
 * The interface and what both logs share (positions, checks, bounds); the logs are
 * memory/event-log.ts and redis/event-log.ts (+ redis/event-follow.ts).
 */
import type { Observable } from "rxjs";
import { invalidArgument } from "../pipeline/errors.js";

export interface EventInput {
  /** Ids of the connections the event is about (one event may carry several). */
  readonly connectionIds: readonly string[];
  /** The remote (host:port or domain) the event came from. */
  readonly peer: string;
  /** The event type, e.g. INITIAL_STATE_TRANSFER, UPDATE, DELETE. */
  readonly type: string;
  /** The event itself; anything JSON can carry. */
  readonly payload: unknown;
  /** Epoch ms at which the proxy saw the event. */
  readonly at: number;
  /** The key of the monitor feed the entry belongs to (feed-store.ts); absent for other entries. */
  readonly feed?: string;
  /** The event as delivered to clients (base64 protobuf); opaque to the log, returned as given. */
  readonly wire?: string;
  /** Why the connection(s) went DOWN or were deleted (planes/end-reasons.ts); absent on other events and on entries written before reasons were recorded. */
  readonly end?: EventEnd;
}

/** Why an event ends (or takes DOWN) its connections, and who saw it. */
export interface EventEnd {
  /** A reason name (planes/end-reasons.ts), e.g. closed_by_client, expired, downstream_down. */
  readonly reason: string;
  /** The hop that saw it: this proxy's NSM_NAME, or the next hop's address when it reported it. */
  readonly hop: string;
  /** More words, e.g. the error a refresh failed with. */
  readonly detail?: string;
}

export interface EventEntry extends EventInput {
  /** Where the entry sits in the log: "<ms>-<seq>". */
  readonly position: string;
}

export interface EventFilter {
  /** Only entries whose connectionIds include this id. */
  readonly connectionId?: string;
  /** Only entries from this peer. */
  readonly peer?: string;
  /** Only entries of this monitor feed. */
  readonly feed?: string;
}

export interface EventQuery extends EventFilter {
  /** Only entries after this position (exclusive). */
  readonly after?: string;
  /** Only entries appended at or after this epoch ms. */
  readonly from?: number;
  /** Only entries appended at or before this epoch ms. */
  readonly to?: number;
  /** At most this many entries (default 1000); page on with `after` = the last position returned. */
  readonly limit?: number;
}

export interface FollowQuery extends EventFilter {
  /**
   * Replay entries after this position first, then follow live. Without it, follow starts at the
   * end of the log when the subscription is established (entries appended while subscribing may or
   * may not be included).
   */
  readonly after?: string;
}

export interface EventLog {
  /** Appends an event and returns its position; trims the log to its bounds. */
  append(event: EventInput): Promise<string>;
  /** Entries matching the query, oldest first. */
  read(query?: EventQuery): Promise<EventEntry[]>;
  /**
   * Matching entries as they are appended, in order. Errors with UNAVAILABLE when the store is lost;
   * resubscribe with `after` = the last position received to resume without gaps or duplicates.
   */
  follow(query?: FollowQuery): Observable<EventEntry>;
  /** Position of the newest entry; undefined when the log is empty. */
  last(): Promise<string | undefined>;
  /**
   * Position of the newest entry ever removed by trimming ("0-0" when none ever was). Reading after
   * a position P loses nothing iff comparePositions(P, trimmedThrough()) >= 0.
   */
  trimmedThrough(): Promise<string>;
}

export interface EventLogBounds {
  /** Entries kept at most (approximately, see `trim`). */
  readonly maxLen: number;
  /** Entries older than this (by position time) are trimmed at the next append. */
  readonly maxAgeMs: number;
  /**
   * "approximate" (default): the Redis log is trimmed to maxLen in batches, once it holds
   * TRIM_SLACK (100) entries more than that, so it may hold up to ~100 entries more than maxLen;
   * cheap. "exact": trimmed to maxLen at every append. The age bound is kept exactly either way
   * (at every append). The memory log always trims exactly.
   */
  readonly trim: "approximate" | "exact";
  /**
   * The memory log only: about how many bytes of entries (delivery form and payload) it keeps; the
   * oldest go first beyond it. A count alone does not bound memory: one initial state can carry
   * thousands of connections. (Redis bounds its own memory: maxmemory.)
   */
  readonly maxBytes?: number;
}

export const defaultEventLogBounds: EventLogBounds = { maxLen: 100_000, maxAgeMs: 24 * 3_600_000, trim: "approximate" };

export const DEFAULT_READ_LIMIT = 1000;

/** How far over maxLen an "approximate" log may grow before it is trimmed back to maxLen. */
export const TRIM_SLACK = 100;

// ---- positions ----

export interface Position {
  readonly ms: number;
  readonly seq: number;
}

const POSITION = /^(\d{1,15})-(\d{1,15})$/;

/** Parses "<ms>-<seq>"; anything else is INVALID_ARGUMENT. */
export function parsePosition(text: string): Position {
  const match = POSITION.exec(text);
  if (!match) throw invalidArgument(`event position ${JSON.stringify(text)} is not of the form <ms>-<seq>`);
  return { ms: Number(match[1]), seq: Number(match[2]) };
}

export function formatPosition(position: Position): string {
  return `${position.ms}-${position.seq}`;
}

export function comparePositions(a: string, b: string): number {
  const pa = parsePosition(a);
  const pb = parsePosition(b);
  return pa.ms - pb.ms || pa.seq - pb.seq;
}

/** The epoch ms at which the entry at this position was appended. */
export function positionTime(position: string): number {
  return parsePosition(position).ms;
}

export function checkQuery(query: EventQuery): void {
  if (query.after !== undefined) parsePosition(query.after);
  for (const [name, value] of [["from", query.from], ["to", query.to]] as const) {
    if (value !== undefined && !(Number.isSafeInteger(value) && value >= 0)) throw invalidArgument(`event query: ${name} must be epoch ms`);
  }
  if (query.limit !== undefined && !(Number.isSafeInteger(query.limit) && query.limit >= 1)) {
    throw invalidArgument("event query: limit must be a whole number >= 1");
  }
}

export function matchesFilter(entry: EventInput, filter: EventFilter): boolean {
  return (
    (filter.peer === undefined || entry.peer === filter.peer) &&
    (filter.feed === undefined || entry.feed === filter.feed) &&
    (filter.connectionId === undefined || entry.connectionIds.includes(filter.connectionId))
  );
}

export function checkEvent(event: EventInput): void {
  if (!Array.isArray(event.connectionIds) || !event.connectionIds.every(id => typeof id === "string")) {
    throw invalidArgument("event: connectionIds must be strings");
  }
  if (typeof event.peer !== "string" || typeof event.type !== "string") throw invalidArgument("event: peer and type must be strings");
  if (!Number.isFinite(event.at)) throw invalidArgument("event: at must be epoch ms");
  if (event.feed !== undefined && typeof event.feed !== "string") throw invalidArgument("event: feed must be a string");
  if (event.wire !== undefined && typeof event.wire !== "string") throw invalidArgument("event: wire must be a string");
  if (event.end !== undefined && !isEventEnd(event.end)) throw invalidArgument("event: end must be {reason, hop[, detail]} strings");
}

export function isEventEnd(end: unknown): end is EventEnd {
  const e = end as Partial<Record<keyof EventEnd, unknown>> | null;
  return typeof e === "object" && e !== null && typeof e.reason === "string" && typeof e.hop === "string" && (e.detail === undefined || typeof e.detail === "string");
}

/** The payload as JSON (undefined as null); a payload JSON cannot carry is INVALID_ARGUMENT. */
export function encodePayload(payload: unknown): string {
  try {
    return JSON.stringify(payload) ?? "null";
  } catch (error: unknown) {
    throw invalidArgument(`event: payload is not JSON-able: ${(error as Error).message}`);
  }
}

export function checkBounds(bounds: EventLogBounds): void {
  if (!(Number.isSafeInteger(bounds.maxLen) && bounds.maxLen >= 1)) throw new RangeError(`event log maxLen must be >= 1, got ${bounds.maxLen}`);
  if (!(Number.isSafeInteger(bounds.maxAgeMs) && bounds.maxAgeMs >= 1)) throw new RangeError(`event log maxAgeMs must be >= 1, got ${bounds.maxAgeMs}`);
}
