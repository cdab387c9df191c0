/**
 * expiry (the SDK's timeout): a connection lives only as long as the caller keeps refreshing it.
 * On the way out a Request must carry an expiry for the previous segment (the next hop would refuse
 * ours without one, and so do we); after a successful Request a timer is (re)set to the previous
 * segment's expiry minus the time a Request may take (the caller's deadline), but never earlier
 * than halfway to the expiry, so that a short token lifetime with a long deadline still leaves the
 * caller time to refresh. When it fires, the connection is closed from inside (onExpire). A Close
 * stops the timer.
 */
import { tap } from "rxjs";
import { named, type Element } from "../../../pipeline/element.js";
import { invalidArgument, quoted } from "../../../pipeline/errors.js";
import type { Connection } from "../../../../generated/nsm/connection.js";
import type { NetworkServiceRequest } from "../../../../generated/nsm/networkservice.js";
import { timestampMs } from "../../../tokens/time.js";
import { type ConnectionEntry, callState } from "./connection-table.js";
import { previousSegment } from "./path.js";
import { requestLens } from "./lens.js";
import { EndReason, tagEnd } from "../../end-reasons.js";

export interface ExpiryOptions {
  onExpire(entry: ConnectionEntry): void;
  now?: () => number;
}

/** When the timer fires, counted from `now`: expiry minus the request's timeout, at least half the remaining time. */
export function expiryDelay(expires: number, requestTimeoutMs: number, now: number): number {
  const remaining = Math.max(0, expires - now);
  return Math.max(remaining / 2, remaining - requestTimeoutMs);
}

/** (Re)sets the entry's expiry timer to call `onExpire` after `delayMs`. */
export function armExpiry(entry: ConnectionEntry, delayMs: number, onExpire: (entry: ConnectionEntry) => void): void {
  clearTimeout(entry.expiryTimer);
  const timer = setTimeout(() => {
    if (entry.expiryTimer === timer) entry.expiryTimer = undefined;
    onExpire(entry);
  }, delayMs);
  timer.unref();
  entry.expiryTimer = timer;
}

export function expiryRequest(options: ExpiryOptions): Element<NetworkServiceRequest, Connection> {
  const now = options.now ?? Date.now;
  return named("expiry", next => (req, ctx) => {
    const started = now();
    const prev = previousSegment(requestLens.get(req));
    const expires = timestampMs(prev?.expires);
    if (prev === undefined) throw invalidArgument("expiration for the previous path segment cannot be nil: the path has no segment before this proxy");
    if (expires === undefined) throw invalidArgument(`expiration for the previous path segment cannot be nil: segment ${quoted(prev.name)} has no expires and no nsm-client-token-expires metadata came with the call`);
    if (expires <= started) throw tagEnd(invalidArgument(`the previous path segment ${quoted(prev.name)} expired at ${new Date(expires).toISOString()}`), EndReason.tokenExpired);
    const requestTimeout = ctx.deadline === undefined ? 0 : Math.max(0, ctx.deadline - started);
    return next(req, ctx).pipe(
      tap(() => {
        const entry = ctx.get(callState)?.entry;
        if (entry) armExpiry(entry, expiryDelay(expires, requestTimeout, now()), options.onExpire);
      }),
    );
  });
}

export function expiryClose<Res>(): Element<Connection, Res> {
  return named("expiry", next => (conn, ctx) => {
    const entry = ctx.get(callState)?.entry;
    if (entry) {
      clearTimeout(entry.expiryTimer);
      entry.expiryTimer = undefined;
    }
    return next(conn, ctx);
  });
}
