/**
 * The v1 connection plane's check, before update-path: a Request or Close within the size bounds
 * (pipeline/bounds.ts), whose path does not already pass through this proxy. Our name may appear only
 * at index+1 (the segment a refresh brings back) and there with an id; anywhere else the call has come
 * round to us again (a self-dial through another spelling of our address, or a misrouted remote):
 * FAILED_PRECONDITION at once, as route.ts answers a route back to ourselves, instead of the
 * inner call waiting on the outer one until the deadline.
 */
import { named, type Element } from "../../../pipeline/element.js";
import { Code, ProxyError, invalidArgument, quoted } from "../../../pipeline/errors.js";
import { checkedBounds } from "../../../pipeline/bounds.js";
import type { Connection } from "../../../../generated/nsm/connection.js";
import type { ConnectionLens } from "./lens.js";

export function checkOwnSegment(conn: Connection, name: string): void {
  const segments = conn.path?.pathSegments ?? [];
  const ours = (conn.path?.index ?? 0) + 1;
  segments.forEach((segment, i) => {
    if (segment.name !== name) return;
    if (i !== ours) throw new ProxyError(Code.FAILED_PRECONDITION, `loop: path segment ${i} is this proxy (${quoted(name)}) already; the call came round to it again`);
    if (segment.id === "") throw invalidArgument(`path segment ${i} (this proxy, ${quoted(name)}) has an empty id`);
  });
}

export function checkV1Call<Req, Res>(name: string, lens: ConnectionLens<Req>, what: string): Element<Req, Res> {
  return named("check-request", next => (req, ctx) => {
    checkedBounds(req, what);
    checkOwnSegment(lens.get(req), name);
    return next(req, ctx);
  });
}
