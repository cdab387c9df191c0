/**
 * Rejects a GetNodeIPConfiguration query with no field set (INVALID_ARGUMENT): with nothing to match,
 * the seed's rule would answer "not found" for a question that was never asked.
 */
import { named, type Element } from "../../pipeline/element.js";
import { invalidArgument } from "../../pipeline/errors.js";
import { checkedBounds } from "../../pipeline/bounds.js";
import type { NodeIPConfiguration } from "../../../generated/seed/clusterinfo.js";

export function checkNodeQuery(): Element<NodeIPConfiguration, NodeIPConfiguration> {
  return named("check-node-query", next => (req, ctx) => {
    checkedBounds(req, "node query");
    if (req.nodeName === "" && req.internalIP === "" && req.externalIP === "") {
      throw invalidArgument("NodeIPConfiguration query is empty: set nodeName, internalIP or externalIP");
    }
    return next(req, ctx);
  });
}
