/**
 * Splits v1 registry calls by the domain their names carry: a call that names another domain
 * (`ns@cluster2`, an NSE named `nse@floating.domain` or serving `ns@cluster2`) goes to the interdomain
 * handler with the domain in the context under `remoteDomain`; a plain call goes on to the next
 * element (the local registry).
 */
import { contextKey } from "../../../pipeline/context.js";
import { named, type Element, type Handler } from "../../../pipeline/element.js";

/** The domain the call's names point at, without "@". */
export const remoteDomain = contextKey<string>("remote-domain");

export function interdomainBranch<Req, Res>(domainOf: (req: Req) => string | undefined, interdomain: Handler<Req, Res>): Element<Req, Res> {
  return named("interdomain-branch", next => (req, ctx) => {
    const domain = domainOf(req);
    return domain === undefined ? next(req, ctx) : interdomain(req, ctx.with(remoteDomain, domain));
  });
}
