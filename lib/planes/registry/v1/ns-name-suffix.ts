/**
 * The remote domain knows its network services by their own names: `ns@cluster2` goes out as `ns`
 * and every answer (a registered NS, each Find response, deleted ones too) comes back as
 * `ns@cluster2`. Needs `remoteDomain` in the context.
 */
import { map } from "rxjs";
import { named, type Element } from "../../../pipeline/element.js";
import type { Empty } from "../../../../generated/nsm/google/protobuf/empty.js";
import type { NetworkService, NetworkServiceQuery, NetworkServiceResponse } from "../../../../generated/nsm/registry.js";
import { remoteDomain } from "./interdomain-branch.js";
import { stripNs, suffixNs } from "./interdomain-names.js";

export function nsNameSuffix(): Element<NetworkService, NetworkService> {
  return named("ns-name-suffix", next => (req, ctx) => {
    const domain = ctx.require(remoteDomain);
    return next(stripNs(req), ctx).pipe(map(ns => suffixNs(ns, domain)));
  });
}

export function nsUnregisterNameSuffix(): Element<NetworkService, Empty> {
  return named("ns-name-suffix", next => (req, ctx) => next(stripNs(req), ctx));
}

export function nsQueryNameSuffix(): Element<NetworkServiceQuery, NetworkServiceResponse> {
  return named("ns-name-suffix", next => (req, ctx) => {
    const domain = ctx.require(remoteDomain);
    const query = req.networkService === undefined ? req : { ...req, networkService: stripNs(req.networkService) };
    return next(query, ctx).pipe(map(res => (res.networkService === undefined ? res : { ...res, networkService: suffixNs(res.networkService, domain) })));
  });
}
