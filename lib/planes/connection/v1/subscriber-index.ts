/**
 * Which monitor subscribers an event may concern, found without asking each one. A selector whose
 * first path segment names an id can only match a connection whose path holds that id (segments
 * match contiguously, and a non-empty id must be equal), so its subscriber is filed under that id;
 * the rest (no segments, or a first segment without an id) are candidates for every event. Each NSM
 * client watches its own segment, so with N connections each watched by its own subscriber an event
 * costs a few lookups instead of N selector checks (bench:scale: O(N²) to open N connections).
 * The candidates are then checked with the selector as before: the index only skips subscribers the
 * selector would have refused.
 */
import type { Connection, MonitorScopeSelector } from "../../../../generated/nsm/connection.js";
import { selectorSegmentId } from "./monitor-selector.js";

export interface SubscriberIndex<S> {
  add(subscriber: S, selector: MonitorScopeSelector): void;
  delete(subscriber: S, selector: MonitorScopeSelector): void;
  /** The subscribers that may match one of these connections, each once. */
  candidates(connections: Iterable<Connection>): Set<S>;
}

export function createSubscriberIndex<S>(): SubscriberIndex<S> {
  const byId = new Map<string, Set<S>>();
  const everywhere = new Set<S>();
  const keyOf = selectorSegmentId;
  return {
    add(subscriber, selector) {
      const id = keyOf(selector);
      if (id === undefined) return void everywhere.add(subscriber);
      const filed = byId.get(id) ?? new Set<S>();
      filed.add(subscriber);
      byId.set(id, filed);
    },
    delete(subscriber, selector) {
      const id = keyOf(selector);
      if (id === undefined) return void everywhere.delete(subscriber);
      const filed = byId.get(id);
      filed?.delete(subscriber);
      if (filed?.size === 0) byId.delete(id);
    },
    candidates(connections) {
      const found = new Set(everywhere);
      for (const conn of connections) {
        for (const segment of conn.path?.pathSegments ?? []) {
          for (const subscriber of byId.get(segment.id) ?? []) found.add(subscriber);
        }
      }
      return found;
    },
  };
}
