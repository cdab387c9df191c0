/**
 * The MonitorConnection side of the v1 plane (the SDK's monitorConnectionServer): the connections
 * this proxy carries, in our frame and keyed by our segment id, and the subscribers asking about
 * them. A subscriber gets INITIAL_STATE_TRANSFER at once (even if empty) with what its selector
 * matches, then every later UPDATE / DELETE that concerns a matching connection. An event that
 * matches completely is handed to every subscriber as the same object (encoded once). Every UPDATE /
 * DELETE it is told is also handed to `record` with the next hop it concerns (the event log).
 *
 * With `shared` (replicas sharing a state store), a subscriber's initial state also holds the
 * connections other replicas carry that its selector matches: they are loaded first (the events sent
 * meanwhile are held back and follow the initial state), kept as known from then on, and a store that
 * cannot be read ends the stream with UNAVAILABLE.
 */
import { Observable, type Subscriber } from "rxjs";
import type { Handler } from "../../../pipeline/element.js";
import { Code, ProxyError } from "../../../pipeline/errors.js";
import { type Connection, type ConnectionEvent, ConnectionEventType, type MonitorScopeSelector } from "../../../../generated/nsm/connection.js";
import { filterConnections } from "./monitor-selector.js";
import { createSubscriberIndex } from "./subscriber-index.js";
import type { EventEnd } from "../../../state/event-log.js";

export interface MonitorServer {
  /**
   * Records an UPDATE or DELETE and tells the subscribers it concerns; `peer`: the next hop it is
   * about ("" if none); `options.record: false` keeps it out of the event log; `options.end`: why a
   * DOWN / DELETE happened, recorded with it.
   */
  send(event: ConnectionEvent, peer?: string, options?: { readonly record?: boolean; readonly end?: EventEnd }): void;
  monitorConnections: Handler<MonitorScopeSelector, ConnectionEvent>;
  /** The connections as the monitor knows them now. */
  connections(): ReadonlyMap<string, Connection>;
  subscriberCount(): number;
  /** Ends every subscriber's stream with UNAVAILABLE. */
  close(): void;
}

/** Where sent events are recorded (after the subscribers have been told). */
export type RecordEvent = (event: ConnectionEvent, peer: string, end?: EventEnd) => void;

/** Connections other replicas carry that match a new subscriber's selector (in our frame). */
export type RecordedConnections = (selector: MonitorScopeSelector) => Promise<readonly Connection[]>;

interface Subscription {
  readonly selector: MonitorScopeSelector;
  /** Events held back while the initial state is being loaded. */
  held?: ConnectionEvent[];
}

export function createMonitorServer(record?: RecordEvent, shared?: RecordedConnections): MonitorServer {
  const connections = new Map<string, Connection>();
  const subscribers = new Map<Subscriber<ConnectionEvent>, Subscription>();
  // Who an event may concern, so that an event is not checked against every subscriber's selector.
  const index = createSubscriberIndex<Subscriber<ConnectionEvent>>();
  const add = (subscriber: Subscriber<ConnectionEvent>, subscription: Subscription) => {
    subscribers.set(subscriber, subscription);
    index.add(subscriber, subscription.selector);
  };
  const remove = (subscriber: Subscriber<ConnectionEvent>) => {
    const subscription = subscribers.get(subscriber);
    if (!subscription) return;
    subscribers.delete(subscriber);
    index.delete(subscriber, subscription.selector);
  };
  const deliver = (subscriber: Subscriber<ConnectionEvent>, subscription: Subscription, event: ConnectionEvent) =>
    subscription.held ? subscription.held.push(event) : subscriber.next(event);

  return {
    send(event, peer = "", options = {}) {
      if (event.type === ConnectionEventType.INITIAL_STATE_TRANSFER) return;
      for (const conn of Object.values(event.connections)) {
        if (event.type === ConnectionEventType.DELETE) connections.delete(conn.id);
        else connections.set(conn.id, conn);
      }
      const total = Object.keys(event.connections).length;
      for (const subscriber of index.candidates(Object.values(event.connections))) {
        const subscription = subscribers.get(subscriber);
        if (!subscription) continue;
        const matching = filterConnections(event.connections, subscription.selector);
        const count = Object.keys(matching).length;
        if (count === total && count > 0) deliver(subscriber, subscription, event);
        else if (count > 0) deliver(subscriber, subscription, { type: event.type, connections: matching });
      }
      if (options.record !== false) record?.(event, peer, options.end);
    },
    monitorConnections: selector =>
      new Observable<ConnectionEvent>(subscriber => {
        const initial = () => ({ type: ConnectionEventType.INITIAL_STATE_TRANSFER, connections: filterConnections(Object.fromEntries(connections), selector) });
        if (!shared) {
          subscriber.next(initial());
          add(subscriber, { selector });
          return () => remove(subscriber);
        }
        const subscription: Subscription = { selector, held: [] };
        add(subscriber, subscription);
        shared(selector).then(
          loaded => {
            if (subscriber.closed || !subscribers.has(subscriber)) return;
            for (const conn of loaded) if (!connections.has(conn.id)) connections.set(conn.id, conn);
            subscriber.next(initial());
            const held = subscription.held ?? [];
            subscription.held = undefined;
            for (const event of held) if (!subscriber.closed) subscriber.next(event);
          },
          (error: unknown) => {
            remove(subscriber);
            subscriber.error(ProxyError.from(error, Code.UNAVAILABLE).withContext("monitor: the connections of the other replicas cannot be read"));
          },
        );
        return () => remove(subscriber);
      }),
    connections: () => connections,
    subscriberCount: () => subscribers.size,
    close() {
      const all = [...subscribers.keys()];
      for (const s of all) remove(s);
      connections.clear();
      for (const s of all) s.error(new ProxyError(Code.UNAVAILABLE, "proxy is shutting down"));
    },
  };
}
