/**
 * route (the SDK's interdomainbypass + discover): chooses the next hop by the NSE name.
 *  - A route this proxy learned for the exact NSE name (RouteStore, e.g. "nse@domain2" -> the remote
 *    proxy's URL): dial it, names untouched.
 *  - Otherwise the NSE name and the network service become their targets (text before '@') and the
 *    NSE is discovered by that name in the local registry: dial its URL.
 * The answer gets the names back as the caller wrote them. A Close of a connection this proxy
 * established uses the route its Request took (callState.stored). The route taken is written into
 * the call state for begin (stored with the connection) and the monitor (downstream stream).
 * INVALID_ARGUMENT without an NSE name; FAILED_PRECONDITION when the route leads back to ourselves.
 */
import { type Observable, defer, from, map, switchMap } from "rxjs";
import { named, type Element } from "../../../pipeline/element.js";
import type { CallContext } from "../../../pipeline/context.js";
import { Code, ProxyError, invalidArgument } from "../../../pipeline/errors.js";
import { nextHop } from "../../../pipeline/forward.js";
import type { RouteStore } from "../../../state/route-store.js";
import { targetOf } from "../../../domains/names.js";
import type { Connection } from "../../../../generated/nsm/connection.js";
import type { NetworkServiceRequest } from "../../../../generated/nsm/networkservice.js";
import type { Empty } from "../../../../generated/nsm/google/protobuf/empty.js";
import { type Route, callState } from "./connection-table.js";
import type { NseDiscovery } from "./discover-nse.js";
import { dialAddressOf } from "../../../domains/nsm-url.js";
import { closeLens, requestLens, type ConnectionLens } from "./lens.js";

export interface RouteDeps {
  readonly routes: RouteStore;
  readonly discovery: NseDiscovery;
  /** Our own URL: a route to it would loop. */
  readonly selfUrl?: string;
}

export function resolveRoute(conn: Connection, deps: RouteDeps, ctx: CallContext): Observable<Route> {
  const nse = conn.networkServiceEndpointName;
  if (nse === "") throw invalidArgument("connection has no network_service_endpoint_name: the proxy routes by endpoint name (the client side selects the endpoint)");
  return from(deps.routes.get(nse)).pipe(
    switchMap(learned => {
      if (learned !== undefined) {
        return [{ nextHop: dialAddressOf(learned, `route for "${nse}"`), networkServiceEndpointName: nse, networkService: conn.networkService, via: "learned" } satisfies Route];
      }
      const target = targetOf(nse);
      return deps.discovery.urlOf(target, ctx).pipe(
        map(url => ({ nextHop: dialAddressOf(url, `URL of NSE "${target}"`), networkServiceEndpointName: target, networkService: targetOf(conn.networkService), via: "discovered" }) satisfies Route),
      );
    }),
    map(route => {
      if (deps.selfUrl !== undefined && route.nextHop === dialAddressOf(deps.selfUrl, "own URL")) {
        throw new ProxyError(Code.FAILED_PRECONDITION, `NSE "${nse}" routes back to this proxy (${deps.selfUrl})`);
      }
      return route;
    }),
  );
}

function routed<Req, Res>(lens: ConnectionLens<Req>, deps: RouteDeps, back: (res: Res, original: Connection) => Res): Element<Req, Res> {
  return named("route", next => (req, ctx) => {
    const original = lens.get(req);
    const call = ctx.get(callState);
    const route$ = call?.stored ? from([call.stored]) : defer(() => resolveRoute(original, deps, ctx));
    return route$.pipe(
      switchMap(route => {
        if (call) call.route = route;
        const out = lens.set(req, { ...original, networkServiceEndpointName: route.networkServiceEndpointName, networkService: route.networkService });
        return next(out, ctx.with(nextHop, route.nextHop)).pipe(map(res => back(res, original)));
      }),
    );
  });
}

export function routeRequest(deps: RouteDeps): Element<NetworkServiceRequest, Connection> {
  return routed<NetworkServiceRequest, Connection>(requestLens, deps, (conn, original) => ({
    ...conn,
    networkServiceEndpointName: original.networkServiceEndpointName,
    networkService: original.networkService,
  }));
}

export function routeClose(deps: RouteDeps): Element<Connection, Empty> {
  return routed<Connection, Empty>(closeLens, deps, res => res);
}
