/**
 * Client-facing monitor streams served from the event log. A fresh subscriber gets the feed's
 * current state as an INITIAL_STATE_TRANSFER (its last snapshot with the entries since folded in),
 * then every entry of the feed after that;
 * a subscriber that resumes (RESUME_METADATA = a position it was sent) gets every entry of the feed
 * after that position instead: in order, once each, through any replica sharing the store. Each
 * event carries its position (transport/grpc/event-positions.ts writes it onto the wire).
 *
 * An UPSTREAM_LOST entry ends the stream with UNAVAILABLE (the remote is gone: the client heals); a
 * position older than what the log has trimmed is OUT_OF_RANGE (the events after it are gone, so
 * resuming would silently skip some: the client must start afresh).
 */
import { Observable, type Subscription } from "rxjs";
import { Code, ProxyError, unavailable } from "../../pipeline/errors.js";
import { type EventEntry, type EventLog, DEFAULT_READ_LIMIT, comparePositions, parsePosition } from "../../state/event-log.js";
import type { FeedStore } from "../../state/feed-store.js";
import type { Connection, ConnectionEvent } from "../../../generated/nsm/connection.js";
import { type Positioned, withEncoding } from "../../transport/grpc/event-positions.js";
import { type FeedKeeper, type FeedSpec, UPSTREAM_LOST, decode, decodeBytes } from "./feed-keeper.js";
import { foldEvent, initialStateEvent } from "./connection-state.js";

const initialAt = (state: ReadonlyMap<string, Connection>, position: string): PositionedEvent => ({ ...initialStateEvent(state), pnsmgrPosition: position });

/** Request metadata: resume after this event log position. */
export const RESUME_METADATA = "pnsmgr-resume-after";

export type PositionedEvent = ConnectionEvent & Positioned;

export interface FeedStreams {
  stream(key: string, spec: FeedSpec, resumeAfter: string | undefined): Observable<PositionedEvent>;
}

export function createFeedStreams(events: EventLog, feeds: FeedStore, keeper: FeedKeeper): FeedStreams {
  // One object per log entry, so every local subscriber writes the same object; it is sent as the
  // bytes the log holds (the event as delivered to clients), not encoded again.
  const decoded = new WeakMap<EventEntry, PositionedEvent>();
  const toEvent = (entry: EventEntry): PositionedEvent | undefined => {
    if (entry.type === UPSTREAM_LOST) {
      const reason = (entry.payload as { reason?: unknown } | null)?.reason;
      throw unavailable(`${typeof reason === "string" ? reason : "monitor stream lost"} (event log position ${entry.position})`);
    }
    if (entry.wire === undefined) return undefined;
    let event = decoded.get(entry);
    if (!event) {
      const bytes = Buffer.from(entry.wire, "base64");
      event = withEncoding({ ...decodeBytes(bytes), pnsmgrPosition: entry.position }, bytes);
      decoded.set(entry, event);
    }
    return event;
  };

  /** Where the stream starts: after a position, with or without a snapshot sent first. */
  async function startOf(key: string, resumeAfter: string | undefined): Promise<{ after: string; initial?: PositionedEvent }> {
    if (resumeAfter !== undefined) {
      parsePosition(resumeAfter);
      const trimmed = await events.trimmedThrough();
      if (comparePositions(resumeAfter, trimmed) < 0) {
        throw new ProxyError(
          Code.OUT_OF_RANGE,
          `${RESUME_METADATA} ${resumeAfter}: the event log no longer holds every event after it (trimmed through ${trimmed}); subscribe again without it`,
        );
      }
      return { after: resumeAfter };
    }
    // The log's end first, then the snapshot: a snapshot is written with its event, atomically, so
    // when there is none yet, the feed's first event comes after this end.
    const end = (await events.last()) ?? "0-0";
    const snapshot = await feeds.snapshot(key);
    if (!snapshot) return { after: end };
    // Snapshots are not written at every event: the entries since this one are folded into the
    // initial state, so that it is the feed's current state (as NSM's initial state is).
    const state = new Map(Object.entries(decode(snapshot.state).connections));
    let position = snapshot.position;
    for (;;) {
      const page = await events.read({ feed: key, after: position });
      for (const entry of page) {
        if (entry.type === UPSTREAM_LOST || entry.wire === undefined) return { after: position, initial: initialAt(state, position) };
        foldEvent(state, decode(entry.wire));
        position = entry.position;
      }
      if (page.length < DEFAULT_READ_LIMIT) return { after: position, initial: initialAt(state, position) };
    }
  }

  return {
    stream(key, spec, resumeAfter) {
      return new Observable<PositionedEvent>(subscriber => {
        let attached = false;
        let follow: Subscription | undefined;
        let done = false;
        (async () => {
          const start = await startOf(key, resumeAfter);
          if (done) return;
          await keeper.attach(key, spec);
          if (done) return keeper.detach(key);
          attached = true;
          if (start.initial) subscriber.next(start.initial);
          follow = events.follow({ feed: key, after: start.after }).subscribe({
            next: entry => {
              try {
                const event = toEvent(entry);
                if (event) subscriber.next(event);
              } catch (error: unknown) {
                subscriber.error(error);
              }
            },
            error: (error: unknown) => subscriber.error(ProxyError.from(error, Code.UNAVAILABLE)),
            complete: () => subscriber.error(unavailable("monitor stream ended: the proxy is shutting down")),
          });
        })().catch((error: unknown) => subscriber.error(ProxyError.from(error, Code.UNAVAILABLE)));
        return () => {
          done = true;
          follow?.unsubscribe();
          if (attached) keeper.detach(key);
        };
      });
    },
  };
}
