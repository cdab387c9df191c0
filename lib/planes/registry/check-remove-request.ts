/** Rejects a RemoveNSE request that names no endpoint (INVALID_ARGUMENT) before NSMRS is dialled. */
import { named, type Element } from "../../pipeline/element.js";
import { invalidArgument } from "../../pipeline/errors.js";
import { checkedBounds } from "../../pipeline/bounds.js";
import type { RemoveNSERequest } from "../../../generated/seed/registry.js";
import type { Empty } from "../../../generated/seed/google/protobuf/empty.js";

export function checkRemoveRequest(): Element<RemoveNSERequest, Empty> {
  return named("check-remove-request", next => (req, ctx) => {
    checkedBounds(req, "remove request");
    if (req.networkServiceEndpointName === "") throw invalidArgument("network_service_endpoint_name is empty: name the endpoint to remove");
    return next(req, ctx);
  });
}
