/**
 * The MonitorConnection side of the v1 plane (the SDK's monitorConnectionServer): the connections
 * this proxy carries, in our frame and keyed by our segment id, and the subscribers asking about
 * them. A subscriber gets INITIAL_STATE_TRANSFER at once (even if empty) with what its selector
 * matches, then every later UPDATE / DELETE that concerns a matching connection. An event that
 * matches completely is handed to every subscriber as the same object (encoded once). Every UPDATE /
 * DELETE it is told is also handed to `record` with the next hop it concerns (the event log).
 */
import { Observable, type Subscriber } from "rxjs";
import type { Handler } from "../../../pipeline/element.js";
import { Code, ProxyError } from "../../../pipeline/errors.js";
import { type Connection, type ConnectionEvent, ConnectionEventType, type MonitorScopeSelector } from "../../../../generated/nsm/connection.js";
import { filterConnections } from "./monitor-selector.js";

export interface MonitorServer {
  /** Records an UPDATE or DELETE and tells the subscribers it concerns; `peer`: the next hop it is about ("" if none). */
  send(event: ConnectionEvent, peer?: string): void;
  monitorConnections: Handler<MonitorScopeSelector, ConnectionEvent>;
  /** The connections as the monitor knows them now. */
  connections(): ReadonlyMap<string, Connection>;
  subscriberCount(): number;
  /** Ends every subscriber's stream with UNAVAILABLE. */
  close(): void;
}

/** Where sent events are recorded (after the subscribers have been told). */
export type RecordEvent = (event: ConnectionEvent, peer: string) => void;

export function createMonitorServer(record?: RecordEvent): MonitorServer {
  const connections = new Map<string, Connection>();
  const subscribers = new Map<Subscriber<ConnectionEvent>, MonitorScopeSelector>();

  return {
    send(event, peer = "") {
      if (event.type === ConnectionEventType.INITIAL_STATE_TRANSFER) return;
      for (const conn of Object.values(event.connections)) {
        if (event.type === ConnectionEventType.DELETE) connections.delete(conn.id);
        else connections.set(conn.id, conn);
      }
      const total = Object.keys(event.connections).length;
      for (const [subscriber, selector] of [...subscribers]) {
        const matching = filterConnections(event.connections, selector);
        const count = Object.keys(matching).length;
        if (count === total && count > 0) subscriber.next(event);
        else if (count > 0) subscriber.next({ type: event.type, connections: matching });
      }
      record?.(event, peer);
    },
    monitorConnections: selector =>
      new Observable<ConnectionEvent>(subscriber => {
        subscriber.next({ type: ConnectionEventType.INITIAL_STATE_TRANSFER, connections: filterConnections(Object.fromEntries(connections), selector) });
        subscribers.set(subscriber, selector);
        return () => subscribers.delete(subscriber);
      }),
    connections: () => connections,
    subscriberCount: () => subscribers.size,
    close() {
      const all = [...subscribers.keys()];
      subscribers.clear();
      connections.clear();
      for (const s of all) s.error(new ProxyError(Code.UNAVAILABLE, "proxy is shutting down"));
    },
  };
}
