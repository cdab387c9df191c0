/**
 * Routes an interdomain call to the registry of its domain: `<registryService>.<domain>` resolved by
 * SRV (target honoured) or the domain itself when it is ip:port. DNS failures are NOT_FOUND or
 * UNAVAILABLE with the domain in the message; errors from that registry keep their code and gain the
 * domain.
 */
import { catchError, from, mergeMap, throwError } from "rxjs";
import { named, type Element } from "../../../pipeline/element.js";
import { ProxyError } from "../../../pipeline/errors.js";
import { nextHop } from "../../../pipeline/forward.js";
import type { SrvResolver } from "../../../domains/srv-resolve.js";
import { remoteDomain } from "./interdomain-branch.js";

export function remoteRegistryRoute<Req, Res>(resolver: SrvResolver, registryService: string): Element<Req, Res> {
  return named("remote-registry-route", next => (req, ctx) => {
    const domain = ctx.require(remoteDomain);
    return from(resolver.resolve(registryService, domain)).pipe(
      mergeMap(address =>
        next(req, ctx.with(nextHop, address)).pipe(
          catchError((error: unknown) => throwError(() => ProxyError.from(error).withContext(`registry of domain "${domain}"`))),
        ),
      ),
    );
  });
}
