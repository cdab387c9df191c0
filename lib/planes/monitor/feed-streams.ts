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
import { type EventEntry, type EventLog, DEFAULT_READ_LIMIT } from "../../state/event-log.js";
import type { FeedStore } from "../../state/feed-store.js";
import type { Connection } from "../../../generated/nsm/connection.js";
import { type FeedKeeper, type FeedSpec, UPSTREAM_LOST, decode } from "./feed-keeper.js";
import { foldEvent, initialStateEvent } from "./connection-state.js";
import { type PositionedEvent, RESUME_METADATA, checkResumePosition, entryEvents } from "../monitor-log.js";

export { RESUME_METADATA, type PositionedEvent };

const initialAt = (state: ReadonlyMap<string, Connection>, position: string): PositionedEvent => ({ ...initialStateEvent(state), pnsmgrPosition: position });

export interface FeedStreams {
  stream(key: string, spec: FeedSpec, resumeAfter: string | undefined): Observable<PositionedEvent>;
}

export function createFeedStreams(events: EventLog, feeds: FeedStore, keeper: FeedKeeper): FeedStreams {
  const eventOf = entryEvents();
  const toEvent = (entry: EventEntry): PositionedEvent | undefined => {
    if (entry.type === UPSTREAM_LOST) {
      const reason = (entry.payload as { reason?: unknown } | null)?.reason;
      throw unavailable(`${typeof reason === "string" ? reason : "monitor stream lost"} (event log position ${entry.position})`);
    }
    return eventOf(entry);
  };

  /** Where the stream starts: after a position, with or without a snapshot sent first. */
  async function startOf(key: string, resumeAfter: string | undefined): Promise<{ after: string; initial?: PositionedEvent }> {
    if (resumeAfter !== undefined) {
      await checkResumePosition(events, resumeAfter);
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
