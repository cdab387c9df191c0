/**
 * Per-connection state of the v1 plane (the SDK's begin/eventFactory, timeout and monitor state in
 * one place), keyed by our own path segment id, which stays the same across refreshes. Each entry
 * runs one Request or Close at a time (its executor), and holds the last request and the connection
 * we returned (in our frame), the route it took, its expiry timer and its downstream monitor.
 * Deleting an entry releases its timer and monitor.
 */
import { Observable, defer, finalize, type Subscription } from "rxjs";
import { contextKey } from "../../../pipeline/context.js";
import type { Connection } from "../../../../generated/nsm/connection.js";
import type { NetworkServiceRequest } from "../../../../generated/nsm/networkservice.js";

/** Where a connection was sent, with the names it was sent under. */
export interface Route {
  /** host:port of the next hop. */
  readonly nextHop: string;
  readonly networkServiceEndpointName: string;
  readonly networkService: string;
  /** learned: a route this proxy learned for the NSE name (names untouched); discovered: found by name in the local registry. */
  readonly via: "learned" | "discovered";
}

/** Something an entry owns and must release: its downstream monitor. */
export interface Releasable {
  stop(): void;
}

export interface ConnectionEntry {
  /** Our path segment id. */
  readonly id: string;
  readonly executor: Executor;
  state: "new" | "established" | "closed";
  /** The last successful request and the connection answered to it, both in our frame. */
  request?: NetworkServiceRequest;
  returned?: Connection;
  route?: Route;
  /**
   * Shared state only: the stamp of the connection record this replica wrote with its last successful
   * Request; undefined when another replica wrote the record we know (see shared-connections.ts).
   */
  stamp?: string;
  expiryTimer?: NodeJS.Timeout;
  downstream?: Releasable & { readonly nextHop: string; alive(): boolean; update(conn: Connection): void };
}

/**
 * What one call through the chain learns on the way (mutable, one per call): the entry it runs for,
 * a route stored by an earlier Request (Close reuses it), and the route this call took.
 */
export interface CallState {
  readonly entry: ConnectionEntry | undefined;
  readonly stored?: Route;
  route?: Route;
  /** Shared state only: the stamp of the connection record this call wrote. */
  stamp?: string;
}
export const callState = contextKey<CallState>("v1-call-state");

export interface Executor {
  /** Runs `work` after every earlier piece of work of this executor has finished (or been cancelled). */
  run<T>(work: () => Observable<T>): Observable<T>;
}

export function createExecutor(): Executor {
  let tail: Promise<void> = Promise.resolve();
  return {
    run<T>(work: () => Observable<T>) {
      return new Observable<T>(subscriber => {
        let release!: () => void;
        const done = new Promise<void>(resolve => (release = resolve));
        const previous = tail;
        tail = previous.then(() => done);
        let inner: Subscription | undefined;
        let cancelled = false;
        void previous.then(() => {
          if (cancelled) return release();
          inner = defer(work).pipe(finalize(release)).subscribe(subscriber);
        });
        return () => {
          cancelled = true;
          if (inner) inner.unsubscribe();
          else release();
        };
      });
    },
  };
}

export interface ConnectionTable {
  get(id: string): ConnectionEntry | undefined;
  getOrCreate(id: string): ConnectionEntry;
  /** Forgets the entry (if it is still the current one for its id) and releases its timer and monitor. */
  delete(entry: ConnectionEntry): void;
  entries(): ConnectionEntry[];
  /** Releases everything (shutdown); connections downstream are left to their own expiry. */
  clear(): void;
}

export function releaseEntry(entry: ConnectionEntry): void {
  clearTimeout(entry.expiryTimer);
  entry.expiryTimer = undefined;
  entry.downstream?.stop();
  entry.downstream = undefined;
}

export function createConnectionTable(): ConnectionTable {
  const entries = new Map<string, ConnectionEntry>();
  return {
    get: id => entries.get(id),
    getOrCreate(id) {
      let entry = entries.get(id);
      if (!entry) {
        entry = { id, executor: createExecutor(), state: "new" };
        entries.set(id, entry);
      }
      return entry;
    },
    delete(entry) {
      entry.state = "closed";
      releaseEntry(entry);
      if (entries.get(entry.id) === entry) entries.delete(entry.id);
    },
    entries: () => [...entries.values()],
    clear() {
      for (const entry of entries.values()) {
        entry.state = "closed";
        releaseEntry(entry);
      }
      entries.clear();
    },
  };
}
