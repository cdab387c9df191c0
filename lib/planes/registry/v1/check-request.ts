/**
 * Rejects malformed v1 registry calls with INVALID_ARGUMENT before anything is resolved or dialled:
 * a Register/Unregister needs a name; a Find needs its network_service / network_service_endpoint
 * message (an empty name in it is fine: it asks for every entry); `ns@` and `@domain` names are
 * malformed everywhere.
 */
import { named, type Element } from "../../../pipeline/element.js";
import { invalidArgument } from "../../../pipeline/errors.js";
import { checkedBounds } from "../../../pipeline/bounds.js";
import type { Empty } from "../../../../generated/nsm/google/protobuf/empty.js";
import type {
  NetworkService,
  NetworkServiceEndpoint,
  NetworkServiceEndpointQuery,
  NetworkServiceEndpointResponse,
  NetworkServiceQuery,
  NetworkServiceResponse,
} from "../../../../generated/nsm/registry.js";
import { domainOfNs, domainOfNse } from "./interdomain-names.js";

function checkNs(ns: NetworkService): void {
  checkedBounds(ns, "network service");
  if (ns.name.trim() === "") throw invalidArgument('network service name is empty: expected "ns" or "ns@domain"');
  domainOfNs(ns);
}

function checkNse(nse: NetworkServiceEndpoint): void {
  checkedBounds(nse, "network service endpoint");
  if (nse.name.trim() === "") throw invalidArgument('network service endpoint name is empty: expected "nse" or "nse@domain"');
  domainOfNse(nse);
}

/** NS Register and Unregister. */
export function checkNsRegistration<Res extends NetworkService | Empty>(): Element<NetworkService, Res> {
  return named("check-ns", next => (req, ctx) => {
    checkNs(req);
    return next(req, ctx);
  });
}

export function checkNsQuery(): Element<NetworkServiceQuery, NetworkServiceResponse> {
  return named("check-ns-query", next => (req, ctx) => {
    checkedBounds(req, "network service query");
    if (req.networkService === undefined) throw invalidArgument("network service query has no network_service");
    domainOfNs(req.networkService);
    return next(req, ctx);
  });
}

/** NSE Register and Unregister. */
export function checkNseRegistration<Res extends NetworkServiceEndpoint | Empty>(): Element<NetworkServiceEndpoint, Res> {
  return named("check-nse", next => (req, ctx) => {
    checkNse(req);
    return next(req, ctx);
  });
}

export function checkNseQuery(): Element<NetworkServiceEndpointQuery, NetworkServiceEndpointResponse> {
  return named("check-nse-query", next => (req, ctx) => {
    checkedBounds(req, "network service endpoint query");
    if (req.networkServiceEndpoint === undefined) throw invalidArgument("network service endpoint query has no network_service_endpoint");
    domainOfNse(req.networkServiceEndpoint);
    return next(req, ctx);
  });
}
