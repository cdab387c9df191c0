/**
 * Sends FindNetworkService requests for "service@domain" to the interdomain handler and lets plain
 * names (what a remote domain asks this one) go on to the local chain. The branch is decided by the
 * name alone: a '@' anywhere means another domain, as in the seed.
 */
import { named, type Element, type Handler } from "../../pipeline/element.js";
import { isInterdomain } from "../../domains/names.js";
import type { FindNetworkServiceRequest, FindNetworkServiceResponse } from "../../../generated/seed/registry.js";

export function interdomainBranch(
  interdomain: Handler<FindNetworkServiceRequest, FindNetworkServiceResponse>,
): Element<FindNetworkServiceRequest, FindNetworkServiceResponse> {
  return named("interdomain-branch", next => (req, ctx) => (isInterdomain(req.networkServiceName) ? interdomain(req, ctx) : next(req, ctx)));
}
