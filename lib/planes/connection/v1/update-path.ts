/**
 * update-path: puts this proxy's segment into the path (see path.ts) and switches the call into our
 * frame (conn.id = our segment id, path.index = ours). A Request's answer goes back in the caller's
 * frame: the id of the caller's segment and its index, the rest of the path as the next hops left it.
 */
import { map } from "rxjs";
import { named, type Element } from "../../../pipeline/element.js";
import type { Connection } from "../../../../generated/nsm/connection.js";
import type { NetworkServiceRequest } from "../../../../generated/nsm/networkservice.js";
import { toCallerFrame, updatePath } from "./path.js";
import { closeLens, requestLens } from "./lens.js";

export function updatePathRequest(name: string, newId?: () => string): Element<NetworkServiceRequest, Connection> {
  return named("update-path", next => (req, ctx) => {
    const incoming = requestLens.get(req);
    const { conn, callerIndex } = updatePath(incoming, name, newId);
    const callerId = incoming.path?.pathSegments[callerIndex]?.id ?? incoming.id;
    return next(requestLens.set(req, conn), ctx).pipe(map(answer => toCallerFrame(answer, callerIndex, callerId)));
  });
}

export function updatePathClose<Res>(name: string, newId?: () => string): Element<Connection, Res> {
  return named("update-path", next => (conn, ctx) => next(closeLens.set(conn, updatePath(conn, name, newId).conn), ctx));
}
