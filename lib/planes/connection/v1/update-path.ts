/**
 * update-path: puts this proxy's segment into the path (see path.ts) and switches the call into our
 * frame (conn.id = our segment id, path.index = ours). A Request's answer goes back in the caller's
 * frame: the id of the caller's segment and its index, the rest of the path as the next hops left it.
 */
import { randomUUID } from "node:crypto";
import { map } from "rxjs";
import { contextKey } from "../../../pipeline/context.js";
import { named, type Element } from "../../../pipeline/element.js";
import type { Connection } from "../../../../generated/nsm/connection.js";
import type { NetworkServiceRequest } from "../../../../generated/nsm/networkservice.js";
import { toCallerFrame, updatePath } from "./path.js";
import { closeLens, requestLens } from "./lens.js";

/**
 * Whether our segment id came with the Request (a refresh, possibly first seen by this replica) rather
 * than being made up here (a new connection): begin looks for another replica's record only then.
 */
export const segmentIdReused = contextKey<boolean>("v1-segment-id-reused");

export function updatePathRequest(name: string, newId: () => string = randomUUID): Element<NetworkServiceRequest, Connection> {
  return named("update-path", next => (req, ctx) => {
    const incoming = requestLens.get(req);
    let made = false;
    const { conn, callerIndex } = updatePath(incoming, name, () => {
      made = true;
      return newId();
    });
    const callerId = incoming.path?.pathSegments[callerIndex]?.id ?? incoming.id;
    return next(requestLens.set(req, conn), ctx.with(segmentIdReused, !made)).pipe(map(answer => toCallerFrame(answer, callerIndex, callerId)));
  });
}

export function updatePathClose<Res>(name: string, newId?: () => string): Element<Connection, Res> {
  return named("update-path", next => (conn, ctx) => next(closeLens.set(conn, updatePath(conn, name, newId).conn), ctx));
}
