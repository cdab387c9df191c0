/**
 * Replicas carrying on each other's v1 connections. Replicas of one proxy share NSM_NAME, so a
 * refresh, Close or monitor stream may reach any of them with our segment id in the path; what the
 * others need is kept in the shared state store as a v1 connection record, keyed by that id (the
 * connection as we returned it, in our frame; its route; the previous segment's expiry; and a stamp
 * that is new with every write). Used only when the store is shared (Redis); in process otherwise.
 *
 *  - Request (element `share`, between monitor-events and route): a successful Request writes the
 *    record (one write) before it is answered. A write that fails fails the Request with UNAVAILABLE,
 *    as the seed's connection record does: a new connection is then closed downstream again (in the
 *    background), a refresh keeps what it had (a failed refresh).
 *  - Close (element `share`, first in the inner Close, so also on expiry and reselect): the record is
 *    deleted once the Close is done downstream, whatever its outcome; a failed delete is logged, not
 *    the Close's failure (the connection is closed; the record is dead at its expiry anyway).
 *  - begin: a Close, or a refresh, of an id this replica does not know loads the record (`adopt`).
 *  - Monitor: a new subscriber's initial state includes the recorded connections its selector
 *    matches (looked up by the segment id the selector names, when it names one); for those this replica does not carry, it opens the downstream monitor itself (so
 *    events flow through it), and keeps them as entries established elsewhere.
 *  - Expiry: before closing, the record is read. Our stamp (or an expired record, or a store that
 *    cannot be read): close, as without sharing. Another replica's live stamp: it was refreshed there;
 *    we follow the record and look again after its expiry. No record: closed elsewhere; forgotten
 *    here, and our subscribers are told DELETE.
 * Entries loaded from a record (not written by us) check the record again a moment after its
 * expiry, so they are closed if the replica that carries the connection is gone.
 */
import { type Observable, catchError, concatMap, from, map, of, switchMap, tap, throwError } from "rxjs";
import { randomUUID } from "node:crypto";
import { named, type Element } from "../../../pipeline/element.js";
import type { CallContext } from "../../../pipeline/context.js";
import { Code, ProxyError } from "../../../pipeline/errors.js";
import type { Logger } from "../../../log.js";
import type { V1ConnectionRecord, V1ConnectionStore } from "../../../state/v1-connection-store.js";
import { timestampMs } from "../../../tokens/time.js";
import { Connection, ConnectionEventType, type MonitorScopeSelector, State } from "../../../../generated/nsm/connection.js";
import type { NetworkServiceRequest } from "../../../../generated/nsm/networkservice.js";
import type { Empty } from "../../../../generated/nsm/google/protobuf/empty.js";
import { type ConnectionEntry, type ConnectionTable, type Route, callState } from "./connection-table.js";
import type { CloseEntry } from "./begin.js";
import type { MonitorServer } from "./monitor-server.js";
import type { WatchDownstream } from "./downstream-monitor.js";
import { armExpiry } from "./expiry.js";
import { matchesSelector, selectorSegmentId } from "./monitor-selector.js";
import { previousSegment } from "./path.js";
import { requestLens } from "./lens.js";
import { EndReason, tagEnd } from "../../end-reasons.js";

/** How long after a record's expiry an entry loaded from it looks at the record again. */
export const FOLLOW_GRACE_MS = 1000;

export interface SharedConnectionsDeps {
  readonly store: V1ConnectionStore;
  readonly table: ConnectionTable;
  readonly log: Logger;
  /** The plane's monitor server (read when needed: it is built with this module's initialConnections). */
  readonly monitor: () => MonitorServer;
  readonly watch: WatchDownstream;
  /** Closes an established entry downstream (the inner Close with its stored connection and route). */
  readonly closeEntry: CloseEntry;
  /** A fresh context for calls made from inside (expiry). */
  readonly internalContext: () => CallContext;
  readonly now?: () => number;
}

export interface SharedConnections {
  /** Request: writes the record of a successful Request (between monitor-events and route). */
  readonly recordRequest: Element<NetworkServiceRequest, Connection>;
  /** begin: loads another replica's record into a new entry; false when there is no live record. */
  adopt(entry: ConnectionEntry): Promise<boolean>;
  /** The expiry timer's action (for entries of ours and entries loaded from records alike). */
  onExpire(entry: ConnectionEntry): void;
  /** The monitor server's hook: recorded connections matching the selector, adopted (downstream monitor opened) when unknown here. */
  initialConnections(selector: MonitorScopeSelector): Promise<Connection[]>;
  /** Shutdown: nothing is adopted any more (loads still in flight are dropped). */
  stop(): void;
}

export function createSharedConnections(deps: SharedConnectionsDeps): SharedConnections {
  const { store, table, log } = deps;
  const now = deps.now ?? Date.now;
  let stopped = false;

  /** The entry takes the record's connection and route, and looks at the record again after its expiry. */
  const follow = (entry: ConnectionEntry, record: V1ConnectionRecord, conn: Connection = decode(record)) => {
    const route = routeOf(record);
    entry.state = "established";
    entry.returned = conn;
    entry.route = route;
    entry.stamp = undefined;
    if (entry.downstream && entry.downstream.nextHop !== route.nextHop) {
      entry.downstream.stop();
      entry.downstream = deps.watch(route.nextHop, conn);
    } else entry.downstream?.update(conn);
    armExpiry(entry, Math.max(0, record.expires - now()) + FOLLOW_GRACE_MS, onExpire);
  };

  const closeNow = (entry: ConnectionEntry): Observable<Empty> =>
    deps.closeEntry(entry, deps.internalContext()).pipe(tap({ next: () => table.delete(entry), error: () => table.delete(entry) }));

  /** Closed by another replica: forget it here, and tell our subscribers. */
  const forgetHere = (entry: ConnectionEntry) => {
    const conn = entry.returned;
    table.delete(entry);
    if (conn) deps.monitor().send({ type: ConnectionEventType.DELETE, connections: { [conn.id]: conn } }, entry.route?.nextHop, { record: false });
  };

  const expire = (entry: ConnectionEntry): Observable<Empty> =>
    entry.executor.run(() => {
      if (table.get(entry.id) !== entry || entry.state !== "established") return of({});
      return from(store.get(entry.id).then(record => ({ record }), (error: unknown) => ({ error }))).pipe(
        switchMap(read => {
          if ("error" in read) {
            log.warn("v1: connection record unreadable at expiry; closing", { id: entry.id, error: String(read.error) });
            return closeNow(entry);
          }
          const record = read.record;
          if (record === undefined) {
            forgetHere(entry);
            return of({});
          }
          if ((entry.stamp !== undefined && record.stamp === entry.stamp) || record.expires <= now()) return closeNow(entry);
          follow(entry, record);
          return of({});
        }),
      );
    });

  const onExpire = (entry: ConnectionEntry) =>
    void expire(entry).subscribe({
      error: (error: unknown) => log.warn("v1: closing an expired connection failed downstream", { id: entry.id, error: String(error) }),
    });

  return {
    recordRequest: recordOnRequest(store, now),
    async adopt(entry) {
      const record = await store.get(entry.id);
      if (stopped || record === undefined || record.expires <= now() || entry.state !== "new") return false;
      follow(entry, record);
      return true;
    },
    onExpire,
    async initialConnections(selector) {
      const records = await recordsForSelector(store, selector, now());
      if (stopped) return [];
      const out: Connection[] = [];
      for (const record of records) {
        const conn = decode(record);
        if (!matchesSelector(conn, selector)) continue;
        out.push(conn);
        if (table.get(record.id)) continue;
        const entry = table.getOrCreate(record.id);
        follow(entry, record, conn);
        entry.downstream = deps.watch(record.route.nextHop, conn);
      }
      return out;
    },
    stop() {
      stopped = true;
    },
  };
}

/**
 * The live records a selector may match: when its first path segment names an id, only the records
 * holding a segment with that id (looked up, not listed: each NSM client watches its own segment,
 * so listing all would cost O(N) per subscription); all of them otherwise. The caller still checks
 * each with the selector.
 */
export function recordsForSelector(store: V1ConnectionStore, selector: MonitorScopeSelector, now: number): Promise<V1ConnectionRecord[]> {
  const segmentId = selectorSegmentId(selector);
  return segmentId === undefined ? store.list(now) : store.findBySegment(segmentId, now);
}

function decode(record: V1ConnectionRecord): Connection {
  return Connection.fromJSON(record.connection);
}

function routeOf(record: V1ConnectionRecord): Route {
  return {
    nextHop: record.route.nextHop,
    networkServiceEndpointName: record.route.networkServiceEndpointName,
    networkService: record.route.networkService,
    via: record.route.via === "discovered" ? "discovered" : "learned",
  };
}

/**
 * Request (between monitor-events and route): writes the record of a successful Request before it is
 * answered, with a new stamp; a write that fails fails the Request with UNAVAILABLE.
 */
function recordOnRequest(store: V1ConnectionStore, now: () => number): Element<NetworkServiceRequest, Connection> {
  return named("share", next => (req, ctx) => {
    const call = ctx.get(callState);
    const expires = timestampMs(previousSegment(requestLens.get(req))?.expires);
    return next(req, ctx).pipe(
      concatMap(conn => {
        const route = call?.route;
        if (!call?.entry || !route || expires === undefined) return of(conn);
        const ours: Connection = { ...conn, state: State.UP };
        const record: V1ConnectionRecord = {
          id: ours.id,
          connection: Connection.toJSON(ours),
          route: { nextHop: route.nextHop, networkServiceEndpointName: route.networkServiceEndpointName, networkService: route.networkService, via: route.via },
          expires,
          stamp: randomUUID(),
          updatedAt: now(),
        };
        return from(store.put(record)).pipe(
          map(() => {
            call.stamp = record.stamp;
            return conn;
          }),
          catchError((error: unknown) => {
            return throwError(() => tagEnd(ProxyError.from(error, Code.UNAVAILABLE).withContext("v1 connection record not written"), EndReason.stateStoreUnavailable));
          }),
        );
      }),
    );
  });
}

/**
 * Close (first element of the inner Close, so also expiry and reselect): deletes the record once the
 * Close is done downstream, whatever its outcome; a delete that fails is logged.
 */
export function forgetRecordOnClose(store: V1ConnectionStore, log: Logger): Element<Connection, Empty> {
  return named("share", next => (conn, ctx) => {
    const entry = ctx.get(callState)?.entry;
    if (!entry) return next(conn, ctx);
    const forget = () =>
      from(
        store.delete(entry.id).catch((error: unknown) => log.warn("v1: connection record not deleted after Close", { id: entry.id, error: String(error) })),
      );
    return next(conn, ctx).pipe(
      concatMap(res => forget().pipe(map(() => res))),
      catchError((error: unknown) => forget().pipe(switchMap(() => throwError(() => error)))),
    );
  });
}
