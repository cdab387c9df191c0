/**
 * NSM's registry interdomainbypass: NSEs of another domain are published with this proxy's url, and
 * the real next hop is remembered in the route store (NSE name -> url) for the connection plane.
 *
 * - Find: each response's url (already the remote proxy's, mapped) is learned under the NSE's name
 *   and replaced by this proxy's public url. A `deleted` response is rewritten the same way but
 *   teaches nothing. A url that is this proxy's own (the floating case, finding an NSE this proxy
 *   registered) is never learned: it would route the proxy to itself. Unlike the Go SDK (LoadOrStore)
 *   a newer answer replaces an older route, because an NSE of another domain is unregistered there,
 *   never through this proxy, so a first answer would otherwise stay forever.
 * - Register (floating): the NSE goes out with this proxy's public url; once the registry accepted it
 *   the registering NSMgr's url is learned under the NSE's full name (`nse@floating.domain`), and the
 *   answer carries that original url again.
 * - Unregister: the NSE goes out with this proxy's public url; when the registry accepted it (or no
 *   longer knew it: NOT_FOUND) the route is forgotten - routes are deleted only here.
 */
import { catchError, concatMap, from, map, mergeMap, throwError } from "rxjs";
import { named, type Element } from "../../../pipeline/element.js";
import { Code, ProxyError, invalidArgument, quoted } from "../../../pipeline/errors.js";
import type { RouteStore } from "../../../state/route-store.js";
import type { Empty } from "../../../../generated/nsm/google/protobuf/empty.js";
import type { NetworkServiceEndpoint, NetworkServiceEndpointQuery, NetworkServiceEndpointResponse } from "../../../../generated/nsm/registry.js";

export interface BypassOptions {
  readonly routes: RouteStore;
  /** This proxy's url as NSMgrs reach it (tcp://host:port). */
  readonly publicUrl: string;
  /** Whether a url means this proxy (its public url, also as the IP map publishes it); default: equals publicUrl. */
  readonly isOwnUrl?: (url: string) => boolean;
}

function storeFailure(error: unknown): ProxyError {
  return error instanceof ProxyError ? error : new ProxyError(Code.UNAVAILABLE, `route store: ${(error as Error).message ?? String(error)}`, { cause: error });
}

export function interdomainBypassFind(options: BypassOptions): Element<NetworkServiceEndpointQuery, NetworkServiceEndpointResponse> {
  const isOwn = options.isOwnUrl ?? ((url: string) => url === options.publicUrl);
  return named("interdomain-bypass", next => (req, ctx) =>
    next(req, ctx).pipe(
      concatMap(async res => {
        const nse = res.networkServiceEndpoint;
        if (nse === undefined) return res;
        if (!res.deleted && nse.name !== "" && nse.url !== "" && !isOwn(nse.url)) {
          try {
            await options.routes.set(nse.name, nse.url);
          } catch (error: unknown) {
            throw storeFailure(error);
          }
        }
        return { ...res, networkServiceEndpoint: { ...nse, url: options.publicUrl } };
      }),
    ),
  );
}

export function interdomainBypassRegister(options: BypassOptions): Element<NetworkServiceEndpoint, NetworkServiceEndpoint> {
  return named("interdomain-bypass", next => (req, ctx) => {
    const original = req.url;
    if (original === "") throw invalidArgument(`network service endpoint ${quoted(req.name)} has no url: nothing to route its connections to`);
    return next({ ...req, url: options.publicUrl }, ctx).pipe(
      concatMap(async res => {
        try {
          await options.routes.set(req.name, original);
        } catch (error: unknown) {
          throw storeFailure(error);
        }
        return { ...res, url: original };
      }),
    );
  });
}

export function interdomainBypassUnregister(options: BypassOptions): Element<NetworkServiceEndpoint, Empty> {
  return named("interdomain-bypass", next => (req, ctx) => {
    const forget = () => from(options.routes.delete(req.name)).pipe(catchError((error: unknown) => throwError(() => storeFailure(error))));
    return next({ ...req, url: options.publicUrl }, ctx).pipe(
      mergeMap(res => forget().pipe(map(() => res))),
      catchError((error: unknown) => {
        const e = ProxyError.from(error);
        if (e.code !== Code.NOT_FOUND) return throwError(() => error);
        return forget().pipe(mergeMap(() => throwError(() => error)));
      }),
    );
  });
}
