/**
 * Rejects seed-mode Requests the proxy cannot route or rewrite, with INVALID_ARGUMENT and a message
 * naming what is missing. The seed panicked on each of these (nil connection, short path, no
 * mechanism preference). Also refused: a message beyond the size bounds (pipeline/bounds.ts), and a
 * path segment 1 naming this proxy's own advertised address (FAILED_PRECONDITION: a loop, the call
 * would come back here).
 */
import { named, type Element } from "../../pipeline/element.js";
import { invalidArgument } from "../../pipeline/errors.js";
import { refuseSelf } from "../seed-connection-view.js";
import { checkedBounds } from "../../pipeline/bounds.js";
import type { NetworkServiceRequest } from "../../../generated/nsm/networkservice.js";
import type { Connection } from "../../../generated/nsm/connection.js";

export function checkSeedRequest(self?: string): Element<NetworkServiceRequest, Connection> {
  return named("check-request", next => (req, ctx) => {
    checkedBounds(req, "request");
    if (!req.connection) throw invalidArgument("request has no connection");
    checkSeedConnection(req.connection, self);
    if (req.mechanismPreferences.length === 0) throw invalidArgument("request has no mechanism preferences: a remote mechanism cannot be negotiated");
    return next(req, ctx);
  });
}

export function checkSeedClose<Res>(self?: string): Element<Connection, Res> {
  return named("check-close", next => (conn, ctx) => {
    checkedBounds(conn, "close");
    checkSeedConnection(conn, self);
    return next(conn, ctx);
  });
}

function checkSeedConnection(conn: Connection, self: string | undefined): void {
  const segments = conn.path?.pathSegments ?? [];
  if (segments.length < 2) {
    throw invalidArgument(`connection path has ${segments.length} segment(s); the proxy needs 2: [client NSMgr, "nsmgr@host:port"]`);
  }
  refuseSelf(segments[1]?.name ?? "", self);
}
