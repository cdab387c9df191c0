/**
 * One query of the monitor event log, as `pnsmgr events` asks it: a replay (oldest first, filtered by
 * connection, peer and time, from a position on) and, with `follow`, the live tail after it, with no
 * gap and no duplicate between the two. Used by the admin service (a gateway's own store) and by the
 * CLI reading a Redis store directly, so both answer the same question the same way.
 *
 * The replay is read in pages; between pages it waits for the reader to take what was sent (`ready`)
 * and yields to I/O, so that a long log is streamed to a slow reader rather than queued at once. With `follow` and neither `from` nor `after`, only entries appended from now
 * on are sent; `to` cannot be combined with `follow`. `limit` ends the stream after that many entries.
 */
import { Observable, type Subscription } from "rxjs";
import { Code, ProxyError, invalidArgument } from "../pipeline/errors.js";
import { type EventEntry, type EventFilter, type EventLog, checkQuery } from "../state/event-log.js";

export interface EventsRequest extends EventFilter {
  /** Entries appended at or after this epoch ms. */
  readonly from?: number;
  /** Entries appended at or before this epoch ms (not with follow). */
  readonly to?: number;
  /** Entries after this position (exclusive). */
  readonly after?: string;
  /** Keep sending entries as they are appended. */
  readonly follow?: boolean;
  /** At most this many entries, then the stream completes. */
  readonly limit?: number;
}

/** Entries read per page of a replay. */
export const REPLAY_PAGE = 500;

/** INVALID_ARGUMENT for a request the log cannot answer. */
export function checkEventsRequest(request: EventsRequest): void {
  checkQuery(request);
  if (request.follow && request.to !== undefined) throw invalidArgument("event query: to cannot be combined with follow");
}

/**
 * The last possible position before epoch ms `from`: resuming "after" it reads everything appended at
 * or after `from` (positions compare by ms, then seq; seq has at most 15 digits).
 */
export function positionBefore(from: number): string | undefined {
  return from > 0 ? `${from - 1}-999999999999999` : undefined;
}

export interface QueryOptions {
  /** Entries per replay page (default REPLAY_PAGE). */
  readonly pageSize?: number;
  /** Waited for between replay pages: resolves when the reader has taken enough (the transport's sendReady). */
  readonly ready?: () => Promise<void>;
}

export function queryEvents(log: EventLog, request: EventsRequest, options: QueryOptions = {}): Observable<EventEntry> {
  const pageSize = options.pageSize ?? REPLAY_PAGE;
  return new Observable<EventEntry>(subscriber => {
    checkEventsRequest(request);
    const filter: EventFilter = {
      ...(request.connectionId !== undefined ? { connectionId: request.connectionId } : {}),
      ...(request.peer !== undefined ? { peer: request.peer } : {}),
    };
    const limit = request.limit;
    let sent = 0;
    let stopped = false;
    let live: Subscription | undefined;
    /** Sends one entry; false once the limit is reached (the stream is then complete). */
    const send = (entry: EventEntry): boolean => {
      if (subscriber.closed) return false;
      subscriber.next(entry);
      sent++;
      if (limit !== undefined && sent >= limit) {
        subscriber.complete();
        return false;
      }
      return true;
    };

    (async () => {
      let cursor = request.after ?? (request.follow && request.from !== undefined ? positionBefore(request.from) : undefined);
      if (!request.follow || cursor !== undefined) {
        for (;;) {
          const want = limit === undefined ? pageSize : Math.min(pageSize, limit - sent);
          const page = await log.read({
            ...filter,
            ...(cursor !== undefined ? { after: cursor } : {}),
            ...(request.from !== undefined ? { from: request.from } : {}),
            ...(request.to !== undefined ? { to: request.to } : {}),
            limit: want,
          });
          if (stopped) return;
          for (const entry of page) if (!send(entry)) return;
          cursor = page.at(-1)?.position ?? cursor;
          if (page.length < want) break;
          await (options.ready?.() ?? Promise.resolve());
          await new Promise<void>(resolve => setImmediate(resolve));
          if (stopped) return;
        }
      }
      if (!request.follow) return subscriber.complete();
      const subscription = log.follow({ ...filter, ...(cursor !== undefined ? { after: cursor } : {}) }).subscribe({
        next: entry => void send(entry),
        error: (error: unknown) => subscriber.error(error),
        complete: () => subscriber.complete(),
      });
      if (stopped) subscription.unsubscribe();
      else live = subscription;
    })().catch((error: unknown) => {
      if (!subscriber.closed) subscriber.error(ProxyError.from(error, Code.UNAVAILABLE));
    });

    return () => {
      stopped = true;
      live?.unsubscribe();
    };
  });
}
