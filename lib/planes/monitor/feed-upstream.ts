/**
 * One run of a feed's upstream in the replica that holds the feed: opens the upstream from the feed's
 * spec, and appends each of its events (already rewritten by the source for the feed's clients) to the
 * event log once, encoded once (planes/monitor-log.ts), with a fenced append: refused once the lease has moved
 * on. Snapshots of the feed's state go with some of the appends, for fresh clients to start from.
 * What ends the run is reported to the caller (UpstreamOutcomes), which decides what follows.
 */
import { type Observable, Subscription, concatMap, defer, materialize } from "rxjs";
import type { FeedStore } from "../../state/feed-store.js";
import { type ConnectionEvent, type Connection, ConnectionEventType } from "../../../generated/nsm/connection.js";
import { eventInput } from "../record-events.js";
import { EndReason, connectionEnd, seedEventEnd } from "../end-reasons.js";
import { foldEvent, initialStateEvent } from "./connection-state.js";
import { encodeEvent as encode } from "../monitor-log.js";

/** Fewest entries between two snapshots of a feed (a fresh client replays at most about this many). */
export const SNAPSHOT_EVERY_MIN = 64;

/** The log entry type that ends a feed's client streams. */
export const UPSTREAM_LOST = "UPSTREAM_LOST";

export interface FeedUpstream {
  /** The remote the events come from (the log's `peer`). */
  readonly peer: string;
  /** The upstream's events, already as the feed's clients see them. */
  readonly events: Observable<ConnectionEvent>;
}

/** Opens feeds of one kind from their spec. */
export type FeedSource = (spec: FeedSpec) => FeedUpstream;

export interface FeedSpec {
  /** Which FeedSource opens it. */
  readonly kind: string;
  readonly [field: string]: unknown;
}

/** Where a feed's events are appended, as whom, and how feeds are opened. */
export interface FeedRecording {
  readonly feeds: FeedStore;
  readonly replicaId: string;
  readonly sources: Readonly<Record<string, FeedSource>>;
  readonly now: () => number;
}

/** How a run ended; at most one of them is reported per run. */
export interface UpstreamOutcomes {
  /** The store refused an append: another replica holds the feed now. */
  fencedOut(): void;
  /** The store could not record an event. */
  appendFailed(error: unknown): void;
  /** The upstream broke or ended, or the spec cannot be opened (peer ""). */
  lost(peer: string, reason: string): void;
}

/** Runs the feed's upstream until it ends or the returned subscription is unsubscribed. */
export function runFeedUpstream(recording: FeedRecording, key: string, specText: string, outcomes: UpstreamOutcomes): Subscription {
  let upstream: FeedUpstream;
  try {
    const spec = JSON.parse(specText) as FeedSpec;
    const source = recording.sources[spec.kind];
    if (!source) throw new Error(`no source for feed kind ${JSON.stringify(spec.kind)}`);
    upstream = source(spec);
  } catch (error: unknown) {
    // A spec this replica cannot open: end the feed for its clients rather than retry forever.
    outcomes.lost("", `monitor feed ${key} cannot be opened: ${(error as Error).message}`);
    return new Subscription();
  }
  const append = feedAppender(recording, key, upstream.peer);
  let first = true;
  return upstream.events
    .pipe(
      materialize(),
      concatMap(note =>
        defer(async () => {
          if (note.kind === "N") {
            // A peer that skips its initial state: the log still starts the feed with one.
            if (first && note.value.type !== ConnectionEventType.INITIAL_STATE_TRANSFER) await append(initialStateEvent(new Map()));
            first = false;
            await append(note.value);
            return;
          }
          const reason =
            note.kind === "E"
              ? `monitor stream ${upstream.peer} broke: ${(note.error as Error)?.message ?? String(note.error)}`
              : `monitor stream ${upstream.peer} ended`;
          outcomes.lost(upstream.peer, reason);
        }),
      ),
    )
    .subscribe({ error: (error: unknown) => (error instanceof LeaseLost ? outcomes.fencedOut() : outcomes.appendFailed(error)) });
}

/**
 * Appends one event of the feed (the caller passes them in order, one at a time), folding it into the
 * feed's state; rejects with LeaseLost when the store refuses the append.
 */
function feedAppender(recording: FeedRecording, key: string, peer: string): (event: ConnectionEvent) => Promise<void> {
  const { feeds, replicaId, now } = recording;
  const state = new Map<string, Connection>();
  let sinceSnapshot = 0;
  return async event => {
    foldEvent(state, event);
    const input = { ...eventInput(event, peer, now(), seedEventEnd(event, peer)), wire: encode(event) };
    // A snapshot costs O(connections): written with the feed's first event (a fresh client needs
    // one), then once the entries since the last one reach a fraction of the state's size.
    const due = sinceSnapshot === 0 || ++sinceSnapshot > Math.max(SNAPSHOT_EVERY_MIN, state.size / 8);
    const position = await feeds.append(key, replicaId, input, due ? encode(initialStateEvent(state)) : undefined);
    if (position === undefined) throw new LeaseLost();
    if (due) sinceSnapshot = 1;
  };
}

/** Appends the entry that ends the feed's client streams (fenced like any other append). */
export async function appendUpstreamLost(recording: FeedRecording, key: string, peer: string, reason: string): Promise<void> {
  const { feeds, replicaId, now } = recording;
  const lost = { connectionIds: [], peer, type: UPSTREAM_LOST, payload: { feed: key, reason }, at: now(), end: connectionEnd(EndReason.upstreamLost, peer, reason) };
  await feeds.append(key, replicaId, lost, encode(initialStateEvent(new Map())));
}

class LeaseLost extends Error {
  constructor() {
    super("feed lease lost");
  }
}
