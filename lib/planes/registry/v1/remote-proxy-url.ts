/**
 * NSEs found in another domain are reached through that domain's proxy: each Find response's url
 * becomes `tcp://` + the SRV answer for `<nsmgrProxyService>.<domain>` (for an ip:port domain, the
 * domain itself: one pnsmgr answers registry and connection calls on one port). When that lookup
 * fails the registered url is kept - the floating case, where the url is already the registering
 * domain's proxy. Looked up once when the Find starts. Needs `remoteDomain`.
 */
import { catchError, from, map, mergeMap, of } from "rxjs";
import { named, type Element } from "../../../pipeline/element.js";
import type { SrvResolver } from "../../../domains/srv-resolve.js";
import type { Logger } from "../../../log.js";
import type { NetworkServiceEndpointQuery, NetworkServiceEndpointResponse } from "../../../../generated/nsm/registry.js";
import { remoteDomain } from "./interdomain-branch.js";
import { nsmUrl } from "../../../domains/nsm-url.js";

export function remoteProxyUrl(resolver: SrvResolver, nsmgrProxyService: string, log: Logger): Element<NetworkServiceEndpointQuery, NetworkServiceEndpointResponse> {
  return named("remote-proxy-url", next => (req, ctx) => {
    const domain = ctx.require(remoteDomain);
    const proxy$ = from(resolver.resolve(nsmgrProxyService, domain)).pipe(
      map(nsmUrl),
      catchError((error: unknown) => {
        log.debug("remote domain has no proxy in DNS; found NSEs keep their registered url", { domain, error: String((error as Error).message ?? error) });
        return of(undefined);
      }),
    );
    return proxy$.pipe(
      mergeMap(url =>
        url === undefined
          ? next(req, ctx)
          : next(req, ctx).pipe(map(res => (res.networkServiceEndpoint === undefined ? res : { ...res, networkServiceEndpoint: { ...res.networkServiceEndpoint, url } }))),
      ),
    );
  });
}
