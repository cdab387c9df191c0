/**
 * Why a connection ended (or went DOWN), for the event log: NSM's wire messages say only that a
 * connection is DOWN or deleted, never why, so each DOWN and DELETE pnsmgr records carries an `end`
 * next to the event (reason, the hop that saw it, a detail), and the reason is counted in
 * `pnsmgr_connection_ends_total{reason}` when metrics are on; the span of the call it happened in
 * (a Close, a failed refresh) carries it when tracing is on.
 *
 * Where the reason comes from:
 *  - v1 Close: the context of the Close says who closed (`closeReason`; the caller's own Close
 *    carries none and is `closed_by_client`; expiry and reselect set theirs);
 *  - v1 failed refresh: the error says why (`tagEnd` marks errors raised by policy, token expiry and
 *    the state store; anything else is `refresh_failed`);
 *  - downstream monitors and seed feeds: what the next hop told us, or that its stream broke.
 */
import { type CallContext, contextKey } from "../pipeline/context.js";
import { Code, ProxyError } from "../pipeline/errors.js";
import { observer } from "../observability/observer.js";
import type { EventEnd } from "../state/event-log.js";
import { type ConnectionEvent, ConnectionEventType, State } from "../../generated/nsm/connection.js";

export const EndReason = {
  /** The caller closed the connection (v1 Close). */
  closedByClient: "closed_by_client",
  /** Not refreshed in time: the previous segment's expiry (its token's lifetime) ran out, we closed it. */
  expired: "expired",
  /** A refresh came with a path token or expiry already past. */
  tokenExpired: "token_expired",
  /** The caller asked for a reselect: the old connection was closed before the new Request. */
  reselected: "reselected",
  /** The monitor stream to the next hop broke or ended. */
  downstreamStreamLost: "downstream_stream_lost",
  /** The next hop reported the connection DOWN. */
  downstreamDown: "downstream_down",
  /** The next hop deleted the connection (seen as DOWN upstream: only the client closes). */
  downstreamDeleted: "downstream_deleted",
  /** A refresh failed at the next hop or on the way there. */
  refreshFailed: "refresh_failed",
  /** A refresh was refused by a policy (secured mode's authorize). */
  refusedByPolicy: "refused_by_policy",
  /** The shared state store could not record the refreshed connection. */
  stateStoreUnavailable: "state_store_unavailable",
  /** Seed feed: the remote NSMgr's monitor stream broke or ended (every connection of the feed). */
  upstreamLost: "upstream_lost",
} as const;

export type EndReasonName = (typeof EndReason)[keyof typeof EndReason];

/** Readable words for each reason (`pnsmgr events`, the timeline). */
export const END_REASON_TEXT: Readonly<Record<EndReasonName, string>> = {
  closed_by_client: "closed by the client",
  expired: "expired (not refreshed in time)",
  token_expired: "token expired",
  reselected: "closed for a reselect",
  downstream_stream_lost: "downstream monitor stream lost",
  downstream_down: "DOWN at the next hop",
  downstream_deleted: "deleted at the next hop",
  refresh_failed: "refresh failed",
  refused_by_policy: "refused by policy",
  state_store_unavailable: "state store unavailable",
  upstream_lost: "upstream monitor stream lost",
};

/** The reason a Close made from inside the proxy carries (absent: the caller closed). */
export const closeReason = contextKey<EndReasonName>("close-reason");

const tagged = new WeakMap<object, EndReasonName>();

/** Marks an error with the reason a refresh failing with it ends the connection; returns the error. */
export function tagEnd<E extends object>(error: E, reason: EndReasonName): E {
  tagged.set(error, reason);
  return error;
}

/** The reason a refresh that failed with `error` went DOWN. */
export function refreshFailureReason(error: unknown): EndReasonName {
  const reason = typeof error === "object" && error !== null ? tagged.get(error) : undefined;
  if (reason) return reason;
  if (error instanceof ProxyError && error.code === Code.PERMISSION_DENIED && !error.message.startsWith("next hop ")) return EndReason.refusedByPolicy;
  return EndReason.refreshFailed;
}

/**
 * An `end` for the log; counts the reason and, given the served call's context, marks its span with
 * it (`pnsmgr.end.reason`, `pnsmgr.end.hop`); a no-op for both unless metrics / telemetry are on.
 */
export function connectionEnd(reason: EndReasonName, hop: string, detail?: string, ctx?: CallContext): EventEnd {
  observer().connectionEnded?.(reason, hop, ctx);
  return { reason, hop, ...(detail ? { detail } : {}) };
}

/** What a seed remote NSMgr's event says by itself: DELETE, or an UPDATE with a connection DOWN, seen by `peer`. */
export function seedEventEnd(event: ConnectionEvent, peer: string): EventEnd | undefined {
  if (event.type === ConnectionEventType.DELETE) return connectionEnd(EndReason.downstreamDeleted, peer);
  if (event.type === ConnectionEventType.UPDATE && Object.values(event.connections).some(conn => conn.state === State.DOWN)) {
    return connectionEnd(EndReason.downstreamDown, peer);
  }
  return undefined;
}

/** The readable words of a recorded reason (unknown ones, from newer writers, as they are). */
export function endReasonText(reason: string): string {
  return (END_REASON_TEXT as Record<string, string>)[reason] ?? reason;
}

export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
