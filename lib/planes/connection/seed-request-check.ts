/**
 * Rejects seed-mode Requests the proxy cannot route or rewrite, with INVALID_ARGUMENT and a message
 * naming what is missing. The seed panicked on each of these (nil connection, short path, no
 * mechanism preference).
 */
import { named, type Element } from "../../pipeline/element.js";
import { invalidArgument } from "../../pipeline/errors.js";
import type { NetworkServiceRequest } from "../../../generated/nsm/networkservice.js";
import type { Connection } from "../../../generated/nsm/connection.js";

export function checkSeedRequest(): Element<NetworkServiceRequest, Connection> {
  return named("check-request", next => (req, ctx) => {
    if (!req.connection) throw invalidArgument("request has no connection");
    checkSeedConnection(req.connection);
    if (req.mechanismPreferences.length === 0) throw invalidArgument("request has no mechanism preferences: a remote mechanism cannot be negotiated");
    return next(req, ctx);
  });
}

export function checkSeedClose<Res>(): Element<Connection, Res> {
  return named("check-close", next => (conn, ctx) => {
    checkSeedConnection(conn);
    return next(conn, ctx);
  });
}

function checkSeedConnection(conn: Connection): void {
  const segments = conn.path?.pathSegments ?? [];
  if (segments.length < 2) {
    throw invalidArgument(`connection path has ${segments.length} segment(s); the proxy needs 2: [client NSMgr, "nsmgr@host:port"]`);
  }
}
