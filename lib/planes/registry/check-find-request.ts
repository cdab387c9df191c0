/**
 * Rejects a FindNetworkService request that names no network service (INVALID_ARGUMENT), so no
 * element after it, nor a next hop, ever sees an empty name.
 */
import { named, type Element } from "../../pipeline/element.js";
import { invalidArgument } from "../../pipeline/errors.js";
import { checkedBounds } from "../../pipeline/bounds.js";
import type { FindNetworkServiceRequest, FindNetworkServiceResponse } from "../../../generated/seed/registry.js";

export function checkFindRequest(): Element<FindNetworkServiceRequest, FindNetworkServiceResponse> {
  return named("check-find-request", next => (req, ctx) => {
    checkedBounds(req, "find request");
    if (req.networkServiceName.trim() === "") throw invalidArgument("network_service_name is empty: expected \"service\" or \"service@domain\"");
    return next(req, ctx);
  });
}
