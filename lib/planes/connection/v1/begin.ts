/**
 * begin: one Request or Close at a time per connection (keyed by our segment id), and the state a
 * later call needs (the SDK's begin). A Request that succeeds makes the entry established and stores
 * the request and answer (state UP); a first Request that fails or is cancelled forgets the entry, a
 * failed refresh keeps it. A refresh in state RESELECT_REQUESTED first closes the old downstream
 * connection. A Close of an established entry is sent with the stored connection along the stored
 * route and then forgets the entry; a Close of an unknown id (e.g. after a restart) still goes
 * downstream, routed afresh.
 *
 * With shared state (`adopt`), an id this replica does not know may be one another replica carries:
 * a Close of it, and a Request that brings our segment id with it (a refresh), first load that
 * replica's record into a new entry (an entry established elsewhere); a store that cannot be read
 * fails the call.
 */
import { EMPTY, catchError, concat, defer, finalize, ignoreElements, map, of, switchMap, tap, type Observable } from "rxjs";
import { named, type Element, type Handler } from "../../../pipeline/element.js";
import type { CallContext } from "../../../pipeline/context.js";
import type { Logger } from "../../../log.js";
import { type Connection, State } from "../../../../generated/nsm/connection.js";
import type { NetworkServiceRequest } from "../../../../generated/nsm/networkservice.js";
import type { Empty } from "../../../../generated/nsm/google/protobuf/empty.js";
import { type CallState, type ConnectionEntry, type ConnectionTable, callState } from "./connection-table.js";
import { segmentIdReused } from "./update-path.js";
import { EndReason, closeReason } from "../../end-reasons.js";

/** Runs the Close part of the chain (after begin) for an established entry, with its stored connection and route. */
export type CloseEntry = (entry: ConnectionEntry, ctx: CallContext) => Observable<Empty>;

export function closeEntryWith(closeInner: Handler<Connection, Empty>): CloseEntry {
  return (entry, ctx) => {
    const returned = entry.returned;
    if (!returned) return of({});
    const call: CallState = { entry, stored: entry.route };
    return closeInner(returned, ctx.with(callState, call));
  };
}

/**
 * Loads what another replica recorded about the entry's connection into the (new) entry, making it
 * established there; resolves false when there is no live record.
 */
export type AdoptRecord = (entry: ConnectionEntry) => Promise<boolean>;

export function beginRequest(table: ConnectionTable, closeEntry: CloseEntry, log: Logger, adopt?: AdoptRecord): Element<NetworkServiceRequest, Connection> {
  return named("begin", next => (req, ctx) => {
    const id = req.connection?.id ?? "";
    if (id === "") throw new Error("begin before update-path: the connection has no id");
    const load = adopt !== undefined && ctx.get(segmentIdReused) === true;
    const attempt = (): Observable<Connection> => {
      const entry = table.getOrCreate(id);
      return entry.executor.run(() => {
        if (table.get(id) !== entry) return attempt();
        const loaded = load && entry.state === "new" ? defer(() => adopt(entry)).pipe(ignoreElements()) : EMPTY;
        return concat(loaded, defer(() => run(entry))).pipe(
          // Failed, or cancelled by the caller, before it was ever established: forget it.
          finalize(() => {
            if (entry.state !== "established") table.delete(entry);
          }),
        );
      });
    };
    const run = (entry: ConnectionEntry): Observable<Connection> => {
      const reselect =
        entry.state === "established" && req.connection?.state === State.RESELECT_REQUESTED
          ? defer(() => closeEntry(entry, ctx.with(closeReason, EndReason.reselected))).pipe(
              catchError((error: unknown) => {
                log.warn("v1: closing the old connection on reselect failed", { id, error: String(error) });
                return EMPTY;
              }),
              ignoreElements(),
              tap({ complete: () => (entry.state = "closed") }),
            )
          : EMPTY;
      const call: CallState = { entry };
      return concat(
        reselect,
        defer(() => next(req, ctx.with(callState, call))),
      ).pipe(
        map(conn => ({ ...conn, state: State.UP })),
        tap(conn => {
          entry.state = "established";
          entry.request = req;
          entry.returned = conn;
          entry.route = call.route;
          entry.stamp = call.stamp;
        }),
      );
    };
    return attempt();
  });
}

export function beginClose(table: ConnectionTable, adopt?: AdoptRecord): Element<Connection, Empty> {
  return named("begin", next => (conn, ctx) => {
    const unknown = () => next(conn, ctx.with(callState, { entry: undefined }));
    const known = table.get(conn.id);
    if (!known && !adopt) return unknown();
    const entry = known ?? table.getOrCreate(conn.id);
    return entry.executor.run(() => {
      if (table.get(conn.id) !== entry) return of({});
      const loaded = adopt && entry.state === "new" && !known ? defer(() => adopt(entry)) : of(true);
      return loaded.pipe(
        finalize(() => {
          if (entry.state === "new" && !known) table.delete(entry);
        }),
        switchMap(() => {
          if (entry.state === "new" && !known) {
            table.delete(entry);
            return unknown();
          }
          if (table.get(conn.id) !== entry || entry.state !== "established" || !entry.returned) return of({});
          const call: CallState = { entry, stored: entry.route };
          return next(entry.returned, ctx.with(callState, call)).pipe(tap({ next: () => table.delete(entry), error: () => table.delete(entry) }));
        }),
      );
    });
  });
}

/** Closes an established entry from inside the proxy (expiry): in its executor, then forgets it. */
export function closeFromInside(table: ConnectionTable, entry: ConnectionEntry, closeEntry: CloseEntry, ctx: () => CallContext): Observable<Empty> {
  return entry.executor.run(() => {
    if (table.get(entry.id) !== entry || entry.state !== "established") return of({});
    return closeEntry(entry, ctx()).pipe(tap({ next: () => table.delete(entry), error: () => table.delete(entry) }));
  });
}
