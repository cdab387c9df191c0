/**
 * authorize (secured mode): NSM's default connection policies on the left side of the path, after
 * update-token has put the caller's metadata token into the previous segment, as the SDK's
 * authorize server sits after updatetoken. A failure is PERMISSION_DENIED naming the policy, counted,
 * and nothing reaches the next hop. It also keeps who owns which connection for the monitor policy
 * (service_connection): a Request records the caller's SPIFFE ID with the caller's segment id (a
 * failed one forgets the caller's ids, as the SDK does), a Close forgets that id.
 */
import { defer, switchMap, tap } from "rxjs";
import { named, type Element } from "../../../pipeline/element.js";
import { type CallContext, tlsPeer } from "../../../pipeline/context.js";
import { Code, ProxyError } from "../../../pipeline/errors.js";
import { firstFailedPolicy } from "../../../identity/path-policies.js";
import type { PlaneIdentity } from "../../../identity/plane-identity.js";
import type { Connection, MonitorScopeSelector } from "../../../../generated/nsm/connection.js";
import type { ConnectionLens } from "./lens.js";
import { EndReason, tagEnd } from "../../end-reasons.js";

function refuse(identity: PlaneIdentity, policy: string): ProxyError {
  identity.refusals.count(policy);
  return tagEnd(new ProxyError(Code.PERMISSION_DENIED, `policy ${policy} failed: no sufficient privileges`), EndReason.refusedByPolicy);
}

async function checkPath(identity: PlaneIdentity, conn: Connection, ctx: CallContext): Promise<void> {
  const index = conn.path?.index ?? 0;
  const left = (conn.path?.pathSegments ?? []).slice(0, index + 1);
  const failed = await firstFailedPolicy({ index, tokens: left.map(s => s.token), peerKey: ctx.get(tlsPeer)?.publicKey });
  if (failed) throw refuse(identity, failed);
}

/** The caller's SPIFFE ID and the id of its segment (the one before ours). */
function owner(conn: Connection, ctx: CallContext): { spiffeId: string; connectionId: string } | undefined {
  const spiffeId = ctx.get(tlsPeer)?.spiffeId;
  const connectionId = conn.path?.pathSegments[(conn.path?.index ?? 0) - 1]?.id;
  return spiffeId && connectionId ? { spiffeId, connectionId } : undefined;
}

export function authorizeRequest<Req, Res>(identity: PlaneIdentity, lens: ConnectionLens<Req>): Element<Req, Res> {
  return named("authorize", next => (req, ctx) =>
    defer(() => checkPath(identity, lens.get(req), ctx)).pipe(
      switchMap(() => {
        const who = owner(lens.get(req), ctx);
        if (who) identity.owners.add(who.spiffeId, who.connectionId);
        return next(req, ctx).pipe(tap({ error: () => who && identity.owners.forgetCaller(who.spiffeId) }));
      }),
    ),
  );
}

export function authorizeClose<Res>(identity: PlaneIdentity): Element<Connection, Res> {
  return named("authorize", next => (conn, ctx) =>
    defer(() => {
      const who = owner(conn, ctx);
      if (who) identity.owners.remove(who.spiffeId, who.connectionId);
      return checkPath(identity, conn, ctx);
    }).pipe(switchMap(() => next(conn, ctx))),
  );
}

/** The monitor policy service_connection: the selector names a connection the caller asked for. */
export function authorizeMonitor<Res>(identity: PlaneIdentity): Element<MonitorScopeSelector, Res> {
  return named("authorize", next => (selector, ctx) => {
    const caller = ctx.get(tlsPeer)?.spiffeId ?? "";
    if (!identity.owners.ownsAny(caller, selector.pathSegments.map(s => s.id))) throw refuse(identity, "service_connection");
    return next(selector, ctx);
  });
}
