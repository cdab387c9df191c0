/**
 * Answers GetNodeIPConfiguration from the node map (no Kubernetes call per query, unlike the seed):
 * the first node whose name, internal IP or external IP equals the corresponding non-empty query
 * field, as {nodeName, internalIP, externalIP}. No match is NOT_FOUND, the query in the message.
 */
import { of } from "rxjs";
import type { Handler } from "../../pipeline/element.js";
import { notFound, quoted } from "../../pipeline/errors.js";
import type { NodeMap } from "../../nodes/node-map.js";
import type { NodeIPConfiguration } from "../../../generated/seed/clusterinfo.js";

export function nodeIPConfiguration(nodes: NodeMap): Handler<NodeIPConfiguration, NodeIPConfiguration> {
  return query => {
    const node = nodes
      .nodes()
      .find(
        n =>
          (query.nodeName !== "" && n.name === query.nodeName) ||
          (query.internalIP !== "" && n.internalIP === query.internalIP) ||
          (query.externalIP !== "" && n.externalIP === query.externalIP),
      );
    if (!node) throw notFound(`node was not found: ${describe(query)}`);
    return of({ nodeName: node.name, internalIP: node.internalIP, externalIP: node.externalIP });
  };
}

function describe(query: NodeIPConfiguration): string {
  const parts = Object.entries({ nodeName: query.nodeName, internalIP: query.internalIP, externalIP: query.externalIP })
    .filter(([, v]) => v !== "")
    .map(([k, v]) => `${k}=${quoted(v, 64)}`);
  return parts.join(" ");
}
