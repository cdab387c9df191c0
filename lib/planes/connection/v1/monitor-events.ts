/**
 * monitor-events (the SDK's monitor server element): tells the monitor what happened to a connection,
 * in our frame (our segment id and index, names and IPs as the caller sees them).
 *  - Request succeeded: UPDATE (UP), and a downstream monitor to the next hop is opened, or kept
 *    when one to the same hop is still alive (it then compares with the refreshed connection).
 *  - Refresh of an established connection failed (here or below: element down-on-failed-refresh,
 *    right after begin, so a refresh refused by policy or with an expired token counts too): UPDATE
 *    with state DOWN; the downstream monitor stops (the caller heals by refreshing).
 *  - Close: the downstream monitor stops first, then DELETE, whether or not the next hop agreed.
 * Every DOWN and DELETE is recorded with why (end-reasons.ts) and the hop that saw it (`self`, this
 * proxy's NSM_NAME): a Close says closed_by_client unless the context names an inner reason (expiry,
 * reselect); a failed refresh says what its error is tagged with.
 */
import { tap } from "rxjs";
import { named, type Element } from "../../../pipeline/element.js";
import { type Connection, ConnectionEventType, State } from "../../../../generated/nsm/connection.js";
import type { NetworkServiceRequest } from "../../../../generated/nsm/networkservice.js";
import type { Empty } from "../../../../generated/nsm/google/protobuf/empty.js";
import { callState } from "./connection-table.js";
import type { MonitorServer } from "./monitor-server.js";
import type { WatchDownstream } from "./downstream-monitor.js";
import { requestLens } from "./lens.js";
import { EndReason, closeReason, connectionEnd, errorText, refreshFailureReason } from "../../end-reasons.js";

export function monitorRequest(monitor: MonitorServer, watch: WatchDownstream): Element<NetworkServiceRequest, Connection> {
  return named("monitor-events", next => (req, ctx) => {
    const call = ctx.get(callState);
    return next(req, ctx).pipe(
      tap({
        next: conn => {
          const nextHop = call?.route?.nextHop;
          monitor.send({ type: ConnectionEventType.UPDATE, connections: { [conn.id]: conn } }, nextHop);
          const entry = call?.entry;
          if (!entry || nextHop === undefined) return;
          const current = entry.downstream;
          if (current && current.alive() && current.nextHop === nextHop) {
            current.update(conn);
            return;
          }
          current?.stop();
          entry.downstream = watch(nextHop, conn);
        },
      }),
    );
  });
}

/** A refresh of an established connection that failed anywhere after begin: DOWN, with why. */
export function downOnFailedRefresh(monitor: MonitorServer, self: string): Element<NetworkServiceRequest, Connection> {
  return named("down-on-failed-refresh", next => (req, ctx) => {
    const call = ctx.get(callState);
    const refresh = call?.entry?.state === "established";
    return next(req, ctx).pipe(
      tap({
        error: (error: unknown) => {
          if (!refresh || !call?.entry) return;
          call.entry.downstream?.stop();
          call.entry.downstream = undefined;
          const conn = requestLens.get(req);
          const nextHop = call.route?.nextHop ?? call.entry.route?.nextHop;
          const end = connectionEnd(refreshFailureReason(error), self, errorText(error), ctx);
          monitor.send({ type: ConnectionEventType.UPDATE, connections: { [conn.id]: { ...conn, state: State.DOWN } } }, nextHop, { end });
        },
      }),
    );
  });
}

export function monitorClose(monitor: MonitorServer, self: string): Element<Connection, Empty> {
  return named("monitor-events", next => (conn, ctx) => {
    const call = ctx.get(callState);
    const entry = call?.entry;
    if (!call || !entry) return next(conn, ctx);
    entry.downstream?.stop();
    entry.downstream = undefined;
    const deleted = (error?: unknown) => {
      const end = connectionEnd(ctx.get(closeReason) ?? EndReason.closedByClient, self, error === undefined ? undefined : `the next hop's Close failed: ${errorText(error)}`, ctx);
      monitor.send({ type: ConnectionEventType.DELETE, connections: { [conn.id]: conn } }, call.route?.nextHop ?? call.stored?.nextHop ?? entry.route?.nextHop, { end });
    };
    return next(conn, ctx).pipe(tap({ next: () => deleted(), error: deleted }));
  });
}
