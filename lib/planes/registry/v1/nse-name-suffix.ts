/**
 * The remote domain knows its endpoints and services by their own names: the NSE name, its network
 * service names and its network_service_labels keys lose `@domain` on the way out and gain it again
 * on every answer (registered NSE, each Find response, deleted ones too). Needs `remoteDomain`.
 */
import { map } from "rxjs";
import { named, type Element } from "../../../pipeline/element.js";
import type { Empty } from "../../../../generated/nsm/google/protobuf/empty.js";
import type { NetworkServiceEndpoint, NetworkServiceEndpointQuery, NetworkServiceEndpointResponse } from "../../../../generated/nsm/registry.js";
import { remoteDomain } from "./interdomain-branch.js";
import { stripNse, suffixNse } from "./interdomain-names.js";

export function nseNameSuffix(): Element<NetworkServiceEndpoint, NetworkServiceEndpoint> {
  return named("nse-name-suffix", next => (req, ctx) => {
    const domain = ctx.require(remoteDomain);
    return next(stripNse(req), ctx).pipe(map(nse => suffixNse(nse, domain)));
  });
}

export function nseUnregisterNameSuffix(): Element<NetworkServiceEndpoint, Empty> {
  return named("nse-name-suffix", next => (req, ctx) => next(stripNse(req), ctx));
}

export function nseQueryNameSuffix(): Element<NetworkServiceEndpointQuery, NetworkServiceEndpointResponse> {
  return named("nse-name-suffix", next => (req, ctx) => {
    const domain = ctx.require(remoteDomain);
    const nse = req.networkServiceEndpoint;
    const query = nse === undefined ? req : { ...req, networkServiceEndpoint: stripNse(nse) };
    return next(query, ctx).pipe(
      map(res => (res.networkServiceEndpoint === undefined ? res : { ...res, networkServiceEndpoint: suffixNse(res.networkServiceEndpoint, domain) })),
    );
  });
}
