/**
 * The v1 MonitorConnections server when replicas share the state store: the same contract as
 * monitor-server.ts, served from the event log, so that every replica tells every subscriber the
 * same events in the same order, each with its position (field 1000 on the wire), and a subscriber
 * can resume through any replica (`pnsmgr-resume-after`) with every event after the position it
 * was last sent, once each.
 *
 *  - send: our own UPDATE / DELETE goes to the log (entries of feed "v1", with the event as
 *    delivered), not to the subscribers directly; the downstream feeds append their relays
 *    themselves (downstream-feed.ts). A local-only notice (`record: false`) is not needed here.
 *  - A fresh subscriber: INITIAL_STATE_TRANSFER of the recorded connections its selector matches
 *    (each as the log last showed it: monitor-log-state.ts), at the position the log state has
 *    reached, then every v1 event after that position whose connections it matches.
 *  - A resuming one: every such event after its position (no initial state); a malformed position
 *    is INVALID_ARGUMENT, one the log has trimmed past OUT_OF_RANGE.
 *  - The store lost while following: UNAVAILABLE (the subscriber resumes, here or elsewhere).
 */
import { Observable, type Subscriber, type Subscription } from "rxjs";
import type { CallContext } from "../../../pipeline/context.js";
import { Code, ProxyError, unavailable } from "../../../pipeline/errors.js";
import type { Logger } from "../../../log.js";
import type { EventEntry, EventLog } from "../../../state/event-log.js";
import { type Connection, type ConnectionEvent, ConnectionEventType, type MonitorScopeSelector } from "../../../../generated/nsm/connection.js";
import { type PositionedEvent, RESUME_METADATA, checkResumePosition, entryEvents } from "../../monitor-log.js";
import type { EventRecorder } from "../../record-events.js";
import { filterConnections } from "./monitor-selector.js";
import type { MonitorServer, RecordedConnections } from "./monitor-server.js";
import { type MonitorLogState, createMonitorLogState, isV1Event } from "./monitor-log-state.js";

export interface LoggedMonitor extends MonitorServer {
  /** Our connection as the log last showed it (downstream-feed.ts compares with it). */
  known(id: string): Connection | undefined;
  /** Resolves once the log state follows the log (from its end when the monitor was created). */
  ready(): Promise<void>;
}

export function createLoggedMonitor(events: EventLog, recorder: EventRecorder, recorded: RecordedConnections, log: Logger): LoggedMonitor {
  const eventOf = entryEvents();
  const state = createMonitorLogState(events, log, eventOf);
  const subscribers = new Set<Subscriber<ConnectionEvent>>();

  /** The part of a v1 entry the selector matches, with the entry's position; undefined when none. */
  const pick = (entry: EventEntry, selector: MonitorScopeSelector): PositionedEvent | undefined => {
    if (!isV1Event(entry)) return undefined;
    const event = eventOf(entry);
    if (!event) return undefined;
    const matching = filterConnections(event.connections, selector);
    const count = Object.keys(matching).length;
    if (count === 0) return undefined;
    return count === Object.keys(event.connections).length ? event : { type: event.type, connections: matching, pnsmgrPosition: entry.position };
  };

  /** Where the subscriber's stream starts: after its resume position, or after the initial state it is sent. */
  const startOf = async (selector: MonitorScopeSelector, ctx: CallContext, send: (event: PositionedEvent) => void, gone: () => boolean): Promise<string | undefined> => {
    const resumeAfter = ctx.metadata.get(RESUME_METADATA);
    if (resumeAfter !== undefined) {
      await checkResumePosition(events, resumeAfter);
      return resumeAfter;
    }
    await state.ready();
    const loaded = await recorded(selector).catch((error: unknown) => {
      throw ProxyError.from(error, Code.UNAVAILABLE).withContext("monitor: the connections of the other replicas cannot be read");
    });
    if (gone()) return undefined;
    const position = state.position();
    const connections: Record<string, Connection> = {};
    for (const conn of loaded) connections[conn.id] = state.connections.get(conn.id) ?? conn;
    send({ type: ConnectionEventType.INITIAL_STATE_TRANSFER, connections, pnsmgrPosition: position });
    return position;
  };

  const monitorConnections = (selector: MonitorScopeSelector, ctx: CallContext) =>
    new Observable<ConnectionEvent>(subscriber => {
      let follow: Subscription | undefined;
      let done = false;
      subscribers.add(subscriber);
      startOf(selector, ctx, event => subscriber.next(event), () => done)
        .then(after => {
          if (after === undefined || done) return;
          follow = events.follow({ after }).subscribe({
            next: entry => {
              const event = pick(entry, selector);
              if (event) subscriber.next(event);
            },
            error: (error: unknown) => subscriber.error(ProxyError.from(error, Code.UNAVAILABLE)),
            complete: () => subscriber.error(unavailable("monitor stream ended: the proxy is shutting down")),
          });
        })
        .catch((error: unknown) => subscriber.error(ProxyError.from(error, Code.UNAVAILABLE)));
      return () => {
        done = true;
        follow?.unsubscribe();
        subscribers.delete(subscriber);
      };
    });

  return {
    send(event, peer = "", options = {}) {
      if (event.type === ConnectionEventType.INITIAL_STATE_TRANSFER || options.record === false) return;
      recorder.record(event, peer, options.end);
    },
    monitorConnections,
    connections: () => state.connections,
    known: id => state.connections.get(id),
    ready: () => state.ready(),
    subscriberCount: () => subscribers.size,
    close() {
      state.close();
      const all = [...subscribers];
      subscribers.clear();
      for (const s of all) s.error(new ProxyError(Code.UNAVAILABLE, "proxy is shutting down"));
    },
  };
}
