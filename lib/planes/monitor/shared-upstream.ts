/**
 * One upstream monitor stream shared by every subscriber that asks the same next hop the same
 * question. The first subscriber opens it; the last one to leave cancels it. Each subscriber first
 * gets an INITIAL_STATE_TRANSFER of what the stream has reported so far (once the upstream has sent
 * its own), then every later event exactly once, as the same object for all (so it is encoded once).
 * When the upstream ends or fails, every subscriber's stream ends with UNAVAILABLE: a client heals
 * on stream loss, so the loss must be visible, never a quiet OK.
 */
import { Observable, type Subscription } from "rxjs";
import { Code, ProxyError } from "../../pipeline/errors.js";
import { type Connection, type ConnectionEvent, ConnectionEventType } from "../../../generated/nsm/connection.js";
import { foldEvent, initialStateEvent } from "./connection-state.js";

export interface SharedUpstreams {
  /** Subscribe to the stream for `key`, opening it with `open` if nobody holds it yet. */
  join(key: string, describe: string, open: () => Observable<ConnectionEvent>): Observable<ConnectionEvent>;
  /** Keys of open upstream streams. */
  keys(): string[];
  /** Ends every upstream stream and its subscribers. */
  close(): void;
}

interface Entry {
  state: Map<string, Connection> | undefined;
  subscribers: Set<(event: ConnectionEvent) => void>;
  failures: Set<(error: ProxyError) => void>;
  upstream: Subscription | undefined;
}

export function createSharedUpstreams(): SharedUpstreams {
  const entries = new Map<string, Entry>();

  function end(key: string, entry: Entry, error: ProxyError) {
    if (entries.get(key) === entry) entries.delete(key);
    for (const fail of [...entry.failures]) fail(error);
  }

  return {
    keys: () => [...entries.keys()],
    close() {
      for (const [key, entry] of [...entries]) {
        entry.upstream?.unsubscribe();
        end(key, entry, new ProxyError(Code.UNAVAILABLE, "proxy is shutting down"));
      }
    },
    join(key, describe, open) {
      return new Observable<ConnectionEvent>(subscriber => {
        let entry = entries.get(key);
        if (entry?.state) subscriber.next(initialStateEvent(entry.state));
        if (!entry) {
          entry = { state: undefined, subscribers: new Set(), failures: new Set(), upstream: undefined };
          entries.set(key, entry);
        }
        const own = entry;
        const deliver = (event: ConnectionEvent) => subscriber.next(event);
        const fail = (error: ProxyError) => subscriber.error(error);
        own.subscribers.add(deliver);
        own.failures.add(fail);
        if (!own.upstream) {
          own.upstream = open().subscribe({
            next: event => {
              const events: ConnectionEvent[] = [];
              if (own.state === undefined && event.type !== ConnectionEventType.INITIAL_STATE_TRANSFER) {
                // A peer that skips its initial state: subscribers still get one (empty) first.
                events.push(initialStateEvent(new Map()));
              }
              events.push(event);
              own.state = foldEvent(own.state ?? new Map(), event);
              for (const e of events) for (const s of [...own.subscribers]) s(e);
            },
            error: (error: unknown) => end(key, own, ProxyError.from(error, Code.UNAVAILABLE).withContext(`monitor stream ${describe} broke`)),
            complete: () => end(key, own, new ProxyError(Code.UNAVAILABLE, `monitor stream ${describe} ended`)),
          });
        }
        return () => {
          own.subscribers.delete(deliver);
          own.failures.delete(fail);
          if (own.subscribers.size === 0 && entries.get(key) === own) {
            entries.delete(key);
            own.upstream?.unsubscribe();
          }
        };
      });
    },
  };
}
