/**
 * "service@domain" -> "service" on the way out (the remote domain knows its services by their own
 * names) and back to "service@domain" on the way in.
 */
import { map } from "rxjs";
import { named, type Element } from "../../pipeline/element.js";
import { targetOf } from "../../domains/names.js";
import type { Connection } from "../../../generated/nsm/connection.js";

export function interdomainService<Req, Res>(lens: { get(req: Req): Connection | undefined; set(req: Req, conn: Connection): Req }, back?: (res: Res, original: string) => Res): Element<Req, Res> {
  return named("interdomain-service", next => (req, ctx) => {
    const conn = lens.get(req);
    if (!conn || !conn.networkService.includes("@")) return next(req, ctx);
    const original = conn.networkService;
    const out = lens.set(req, { ...conn, networkService: targetOf(original) });
    const response$ = next(out, ctx);
    return back ? response$.pipe(map(res => back(res, original))) : response$;
  });
}
