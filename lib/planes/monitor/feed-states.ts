/**
 * A feed's life in one replica, as a table: the states it can be in here, the events that move it,
 * and what the keeper does on each move. The keeper decides every move by looking it up in
 * FEED_TRANSITIONS (createFeedStates below); an event that has no row for the feed's current state
 * changes nothing (e.g. the outcome of an upstream this replica has already dropped).
 *
 *   off        this replica does not run the feed (nobody does, or another replica does)
 *   acquiring  asking the store for the feed's lease
 *   running    holding the lease; the upstream is open and its events are appended to the log
 *   ending     recording the feed's end in the store (UPSTREAM_LOST, or forgetting an unused feed)
 */
import type { Subscription } from "rxjs";

export type FeedState = "off" | "acquiring" | "running" | "ending";

export type FeedEvent =
  /** A client attached here, or a round found the feed with nobody running it. */
  | "wanted"
  | "lease refused"
  /** The lease request (or the check that follows it) failed: the store is not reachable. */
  | "lease request failed"
  /** The lease is ours and the feed is in use (or still within its linger). */
  | "lease taken"
  /** The lease is ours but nobody touched the feed for lingerMs: the store has forgotten it. */
  | "lease taken, unused"
  /** The lease is ours but the keeper closed meanwhile. */
  | "lease taken, closing"
  | "lease renewed"
  /** A renewal was refused: another replica holds the lease now. */
  | "lease lost"
  /** The store refused an append: the lease moved on (e.g. while this replica was paused). */
  | "fenced out"
  /** The store could not record an event (not reachable, or it failed). */
  | "append failed"
  /** The upstream broke or ended, or its spec cannot be opened here. */
  | "upstream lost"
  /** A round found that nobody touched the feed for lingerMs: the store has forgotten it. */
  | "unused"
  /** The last client here left and there is no linger. */
  | "last client left"
  /** The ending's store writes are done (or failed: a later round sorts it out). */
  | "ended"
  | "keeper closed";

export type FeedEffect =
  | "none"
  /** Ask for the lease, then report the answer as one of the "lease …" events. */
  | "acquire"
  /** Wait for the lease request already in flight (one request per feed at a time). */
  | "join acquisition"
  | "open upstream"
  | "release lease"
  | "drop upstream"
  /** Drop the upstream and release the lease: another replica may take the feed at once. */
  | "let go"
  /** Drop the upstream, append UPSTREAM_LOST (ends the clients' streams), forget the feed, release the lease. */
  | "record upstream lost"
  /** Drop the upstream, forget the feed, then release the lease. */
  | "end unused";

export interface FeedTransition {
  readonly from: FeedState;
  readonly on: FeedEvent;
  readonly to: FeedState;
  readonly does: FeedEffect;
}

export const FEED_TRANSITIONS: readonly FeedTransition[] = [
  { from: "off", on: "wanted", to: "acquiring", does: "acquire" },
  { from: "acquiring", on: "wanted", to: "acquiring", does: "join acquisition" },
  { from: "running", on: "wanted", to: "running", does: "none" },
  // The store is still forgetting the feed: the next round wants it again if a client is attached.
  { from: "ending", on: "wanted", to: "ending", does: "none" },
  { from: "acquiring", on: "lease refused", to: "off", does: "none" },
  // The caller gets the error; the next round asks again.
  { from: "acquiring", on: "lease request failed", to: "off", does: "none" },
  { from: "acquiring", on: "lease taken", to: "running", does: "open upstream" },
  { from: "acquiring", on: "lease taken, unused", to: "off", does: "release lease" },
  { from: "acquiring", on: "lease taken, closing", to: "off", does: "release lease" },
  { from: "running", on: "lease renewed", to: "running", does: "none" },
  { from: "running", on: "lease lost", to: "off", does: "drop upstream" },
  { from: "running", on: "fenced out", to: "off", does: "drop upstream" },
  // The next round opens the upstream again: its fresh initial state makes up for the lost event.
  { from: "running", on: "append failed", to: "off", does: "drop upstream" },
  { from: "running", on: "upstream lost", to: "ending", does: "record upstream lost" },
  { from: "running", on: "unused", to: "off", does: "let go" },
  { from: "running", on: "last client left", to: "ending", does: "end unused" },
  { from: "running", on: "keeper closed", to: "off", does: "let go" },
  { from: "ending", on: "ended", to: "off", does: "none" },
];

const byStateAndEvent = new Map(FEED_TRANSITIONS.map(row => [`${row.from}|${row.on}`, row]));

/** The row for this state and event, if the table has one. */
export function transitionFor(from: FeedState, on: FeedEvent): FeedTransition | undefined {
  return byStateAndEvent.get(`${from}|${on}`);
}

/** What this replica keeps about one feed that is not off. */
export interface FeedRecord {
  readonly key: string;
  state: FeedState;
  /** The spec to open the feed from (JSON text), from the event that wanted it. */
  spec: string;
  /** How long nobody had touched the feed when it was wanted (store clock). */
  idleMs: number;
  /** The lease request in flight while acquiring. */
  acquisition?: Promise<void>;
  /** The upstream subscription while running. */
  upstream?: Subscription;
}

/** What an event carries: "wanted" its spec and idle time, "upstream lost" where from and why. */
export interface FeedDetail {
  readonly spec?: string;
  readonly idleMs?: number;
  readonly peer?: string;
  readonly reason?: string;
}

export type FeedEffects = Readonly<Record<FeedEffect, (record: FeedRecord, detail: FeedDetail) => void | Promise<unknown>>>;

export interface FeedStates {
  /** Moves the feed by the table and runs the row's effect; what the effect returns (undefined: no row). */
  fire(key: string, on: FeedEvent, detail?: FeedDetail): void | Promise<unknown>;
  stateOf(key: string): FeedState;
  /** Whether this record is still the feed's current one (an old run's outcomes are ignored). */
  isCurrent(record: FeedRecord): boolean;
  /** Keys of the feeds in this state. */
  keys(state: Exclude<FeedState, "off">): string[];
}

export function createFeedStates(effects: FeedEffects, observe?: (key: string, transition: FeedTransition) => void): FeedStates {
  // Feeds that are off have no record: a feed wanted again starts from a fresh one.
  const records = new Map<string, FeedRecord>();
  return {
    fire(key, on, detail = {}) {
      const record = records.get(key) ?? { key, state: "off", spec: "", idleMs: 0 };
      const row = transitionFor(record.state, on);
      if (!row) return undefined;
      // The state moves before the effect runs: an effect may fire the next event at once.
      record.state = row.to;
      if (row.to === "off") records.delete(key);
      else records.set(key, record);
      observe?.(key, row);
      return effects[row.does](record, detail);
    },
    stateOf: key => records.get(key)?.state ?? "off",
    isCurrent: record => records.get(record.key) === record,
    keys: state => [...records.values()].filter(record => record.state === state).map(record => record.key),
  };
}
