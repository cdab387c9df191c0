/**
 * record-events: every monitor event that crosses the proxy is appended to the state store's event
 * log (memory, or a Redis Stream shared by the replicas), for `pnsmgr events` to replay.
 *
 * Recording never holds up or breaks delivery: `record` only queues the event and returns; one
 * worker appends the queue in order (so the log keeps the order the proxy saw), converting each
 * event to its proto3 JSON form there, off the delivery path. Delivery to clients takes priority
 * over the record: when the store fails (Redis down, or a command timing out) the event is dropped
 * from the log, counted, and the relay goes on; the first failure of an outage is logged at warn,
 * then a count at most every `warnEveryMs`, and the return of the store at info with the total lost.
 * A queue longer than `maxQueued` (a store far slower than the events) drops new events the same way.
 *
 * Path tokens are redacted in the recorded payload: the log outlives the tokens' purpose, and it is
 * readable by whoever can read the store or reach the admin service.
 *
 * A DOWN or DELETE comes with its `end` (why, and the hop that saw it: planes/end-reasons.ts),
 * stored next to the event.
 *
 * Used by the v1 connection plane (with `feed` when replicas share the store: its subscribers are
 * then served from these entries). The seed monitor plane appends through its feeds instead
 * (planes/monitor/feed-keeper.ts), which share `eventInput` with it.
 */
import type { Logger } from "../log.js";
import type { EventEnd, EventInput, EventLog } from "../state/event-log.js";
import { type ConnectionEvent, ConnectionEvent as ConnectionEventJson, connectionEventTypeToJSON } from "../../generated/nsm/connection.js";
import { encodeEvent } from "./monitor-log.js";

export interface EventRecorder {
  /**
   * Queues the event for the log and returns at once; never throws. `peer`: the remote NSMgr or next
   * hop; `end`: why a DOWN / DELETE happened (planes/end-reasons.ts).
   */
  record(event: ConnectionEvent, peer: string, end?: EventEnd): void;
  /** Resolves once every event queued so far has been appended or given up on. */
  flush(): Promise<void>;
  /** Stops recording; events still queued are dropped. */
  close(): void;
}

export interface EventRecorderOptions {
  /** Events waiting for the store before new ones are dropped (default 10000). */
  readonly maxQueued?: number;
  /** Least time between two warnings of one outage (default 10 s). */
  readonly warnEveryMs?: number;
  /** Clock of `at` and of the warnings (tests). */
  readonly now?: () => number;
  /**
   * Entries belong to this monitor feed and carry the event as delivered (`wire`): the v1 monitor
   * serves its subscribers from them when replicas share the store.
   */
  readonly feed?: string;
}

interface Queued {
  readonly event: ConnectionEvent;
  readonly peer: string;
  readonly at: number;
  readonly end: EventEnd | undefined;
}

export const REDACTED = "(redacted)";

export function createEventRecorder(events: EventLog, log: Logger, options: EventRecorderOptions = {}): EventRecorder {
  const maxQueued = options.maxQueued ?? 10_000;
  const warnEveryMs = options.warnEveryMs ?? 10_000;
  const now = options.now ?? Date.now;
  const feed = options.feed;
  const queue: Queued[] = [];
  let draining: Promise<void> | undefined;
  let closed = false;
  /** Events lost in the current outage, and when it was last reported. */
  let lost = 0;
  let reportedLost = 0;
  let lastWarn = 0;

  const lose = (reason: string, error?: unknown) => {
    lost++;
    const first = lost === 1;
    if (!first && now() - lastWarn < warnEveryMs) return;
    lastWarn = now();
    log.warn(first ? "monitor event log: an event could not be recorded; relaying goes on" : "monitor event log: events not recorded; relaying goes on", {
      lost: lost,
      since: lost - reportedLost,
      reason,
      ...(error === undefined ? {} : { error: error instanceof Error ? error.message : String(error) }),
    });
    reportedLost = lost;
  };

  const drain = async () => {
    while (queue.length > 0 && !closed) {
      const item = queue.shift()!;
      try {
        const input = eventInput(item.event, item.peer, item.at, item.end);
        await events.append(feed === undefined ? input : { ...input, feed, wire: encodeEvent(item.event) });
        if (lost > 0) {
          log.info("monitor event log: recording again", { lost });
          lost = 0;
          reportedLost = 0;
        }
      } catch (error: unknown) {
        lose("store failed", error);
      }
    }
  };

  return {
    record(event, peer, end) {
      if (closed) return;
      if (queue.length >= maxQueued) return lose(`more than ${maxQueued} events waiting for the store`);
      queue.push({ event, peer, at: now(), end });
      if (!draining) {
        // Started after the current delivery has run (a microtask), never inside it.
        draining = Promise.resolve().then(drain).finally(() => {
          draining = undefined;
        });
      }
    },
    async flush() {
      while (draining) await draining;
    },
    close() {
      closed = true;
      queue.length = 0;
    },
  };
}

/** The log entry of one monitor event: its connection ids, type name, peer, proto3 JSON form and, if given, why it ended them. */
export function eventInput(event: ConnectionEvent, peer: string, at: number, end?: EventEnd): EventInput {
  return {
    connectionIds: Object.entries(event.connections).map(([key, conn]) => conn.id || key),
    peer,
    type: connectionEventTypeToJSON(event.type),
    payload: redactTokens(ConnectionEventJson.toJSON(event)),
    at,
    ...(end ? { end } : {}),
  };
}

/** Replaces every path segment token in a ConnectionEvent's JSON form (a fresh object: changed in place). */
function redactTokens(json: unknown): unknown {
  const connections = (json as { connections?: Record<string, { path?: { pathSegments?: { token?: string }[] } }> }).connections ?? {};
  for (const conn of Object.values(connections)) {
    for (const segment of conn.path?.pathSegments ?? []) if (segment.token) segment.token = REDACTED;
  }
  return json;
}
