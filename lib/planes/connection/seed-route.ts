/**
 * Seed routing: path segment 1 names the remote NSMgr as "nsmgr@host:port". The next hop is that
 * address; the remote NSMgr knows itself by the bare name, so segment 1 goes out as "nsmgr" and
 * comes back as "nsmgr@host:port", as the client wrote it (the client matches monitor events and
 * heals by that name).
 */
import { map } from "rxjs";
import { contextKey } from "../../pipeline/context.js";
import { named, type Element } from "../../pipeline/element.js";
import { nextHop } from "../../pipeline/forward.js";
import { type NsmUrl, parseNsmUrl } from "../../domains/names.js";
import type { Connection } from "../../../generated/nsm/connection.js";
import { renameSegment } from "../seed-connection-view.js";

/** The remote NSMgr of this call, from path segment 1. */
export const remoteNsm = contextKey<NsmUrl & { readonly written: string }>("remote-nsm");

export function seedRoute<Req, Res>(connectionOf: (req: Req) => Connection | undefined): Element<Req, Res> {
  return named("route", next => (req, ctx) => {
    const written = connectionOf(req)?.path?.pathSegments[1]?.name ?? "";
    const url = parseNsmUrl(written, "path segment 1");
    return next(req, ctx.with(remoteNsm, { ...url, written }).with(nextHop, url.address));
  });
}

/** Renames path segment 1 to the bare remote name on the way out and back on the way in. */
export function remoteNsmName<Req, Res>(lens: { get(req: Req): Connection | undefined; set(req: Req, conn: Connection): Req }, back?: (res: Res, written: string) => Res): Element<Req, Res> {
  return named("remote-nsm-name", next => (req, ctx) => {
    const nsm = ctx.require(remoteNsm);
    const conn = lens.get(req);
    const out = conn ? lens.set(req, renameSegment(conn, 1, nsm.name)) : req;
    const response$ = next(out, ctx);
    return back ? response$.pipe(map(res => back(res, nsm.written))) : response$;
  });
}

