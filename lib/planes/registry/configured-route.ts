/**
 * Routes every call to one configured next hop (the local registry, NSMRS). When the option is
 * unset the call fails with UNAVAILABLE naming the environment variable to set, before anything is
 * dialled.
 */
import { named, type Element } from "../../pipeline/element.js";
import { unavailable } from "../../pipeline/errors.js";
import { nextHop } from "../../pipeline/forward.js";

export function configuredRoute<Req, Res>(address: string | undefined, env: string, role: string): Element<Req, Res> {
  return named("configured-route", next => (req, ctx) => {
    if (!address) throw unavailable(`${ctx.method}: no ${role} is configured (set ${env})`);
    return next(req, ctx.with(nextHop, address));
  });
}
