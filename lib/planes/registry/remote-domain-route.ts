/**
 * Routes "service@domain" to the domain's registry: the proxy registry (or NSMRS) of that domain at
 * the resolved address, on `remotePort` unless the domain names its own port. A malformed name is
 * INVALID_ARGUMENT; a domain that does not resolve is NOT_FOUND or UNAVAILABLE (from the resolver).
 * Errors that come back from the domain keep their code and gain the name asked for.
 */
import { catchError, from, mergeMap, throwError } from "rxjs";
import { named, type Element } from "../../pipeline/element.js";
import { ProxyError } from "../../pipeline/errors.js";
import { nextHop } from "../../pipeline/forward.js";
import { splitInterdomain } from "../../domains/names.js";
import type { DomainResolver } from "../../domains/resolve.js";
import type { FindNetworkServiceRequest, FindNetworkServiceResponse } from "../../../generated/seed/registry.js";

export function remoteDomainRoute(resolver: DomainResolver, remotePort: number): Element<FindNetworkServiceRequest, FindNetworkServiceResponse> {
  return named("remote-domain-route", next => (req, ctx) => {
    const original = req.networkServiceName;
    const { domain } = splitInterdomain(original, "network_service_name");
    return from(resolver.resolve(domain, remotePort)).pipe(
      mergeMap(address =>
        next(req, ctx.with(nextHop, address)).pipe(
          catchError((error: unknown) => throwError(() => ProxyError.from(error).withContext(`FindNetworkService "${original}"`))),
        ),
      ),
    );
  });
}
