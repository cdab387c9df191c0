/**
 * The v1 monitor's connections as the event log tells them, in every replica sharing the store: one
 * follower per replica folds each v1 UPDATE / DELETE (our own events from any replica, and the relays
 * of the downstream feeds) into a map by connection id, and knows the position of the last entry it
 * has read. A fresh subscriber's initial state is this map at that position, and the events after
 * that position follow it, so nothing falls between the two. The follower starts at the log's end
 * when the plane is created and, when the store fails, follows again after the last position it read.
 */
import type { Subscription } from "rxjs";
import type { Logger } from "../../../log.js";
import type { EventEntry, EventLog } from "../../../state/event-log.js";
import { type Connection, type ConnectionEvent, ConnectionEventType } from "../../../../generated/nsm/connection.js";
import { isV1Feed } from "./downstream-feed.js";

export interface MonitorLogState {
  /** Resolves once the follower knows where the log ends (positions are meaningful from then on). */
  ready(): Promise<void>;
  /** The position of the last entry folded in (or the log's end when it started). */
  position(): string;
  readonly connections: ReadonlyMap<string, Connection>;
  close(): void;
}

/** The v1 monitor entries a subscriber is sent: UPDATE / DELETE of a v1 feed, with the event as delivered. */
export function isV1Event(entry: EventEntry): boolean {
  return isV1Feed(entry.feed) && entry.wire !== undefined && (entry.type === "UPDATE" || entry.type === "DELETE");
}

const RETRY_MS = 1000;

/** `eventOf` is the monitor's own entryEvents(), so an entry is decoded once for the state and its subscribers. */
export function createMonitorLogState(events: EventLog, log: Logger, eventOf: (entry: EventEntry) => ConnectionEvent | undefined): MonitorLogState {
  const connections = new Map<string, Connection>();
  let position = "0-0";
  let follower: Subscription | undefined;
  let retry: NodeJS.Timeout | undefined;
  let closed = false;
  let failing = false;

  const fold = (entry: EventEntry) => {
    position = entry.position;
    if (!isV1Event(entry)) return;
    const event = eventOf(entry);
    if (!event) return;
    for (const conn of Object.values(event.connections)) {
      if (event.type === ConnectionEventType.DELETE) connections.delete(conn.id);
      else connections.set(conn.id, conn);
    }
  };
  const follow = () => {
    if (closed) return;
    follower = events.follow({ after: position }).subscribe({
      next: entry => {
        if (failing) log.info("v1 monitor: following the event log again", { after: position });
        failing = false;
        fold(entry);
      },
      error: (error: unknown) => {
        if (!failing) log.warn("v1 monitor: the event log cannot be followed; trying again", { after: position, error: String(error) });
        failing = true;
        retry = setTimeout(follow, RETRY_MS);
      },
    });
  };
  const started = (async () => {
    for (;;) {
      try {
        position = (await events.last()) ?? "0-0";
        return follow();
      } catch (error: unknown) {
        if (closed) return;
        log.warn("v1 monitor: the event log's end cannot be read; trying again", { error: String(error) });
        await new Promise(resolve => setTimeout(resolve, RETRY_MS));
      }
    }
  })();

  return {
    ready: () => started,
    position: () => position,
    connections,
    close() {
      closed = true;
      clearTimeout(retry);
      follower?.unsubscribe();
    },
  };
}
