/**
 * "Is this NSMgr URL on this node?" - the test behind the seed's localize case. A URL is on this
 * node when NODE_NAME is set, the node map knows that node, and the URL's host is the node's external
 * or internal IP (any port). Read per call, so a reloaded node map takes effect at once.
 */
import { parseHostPort } from "../../domains/address.js";
import type { NodeMap } from "../../nodes/node-map.js";

export type OnThisNode = (url: string) => boolean;

export function onThisNode(nodes: NodeMap, nodeName: string | undefined): OnThisNode {
  return url => {
    if (!nodeName) return false;
    const node = nodes.byName(nodeName);
    if (!node) return false;
    const host = hostOrUndefined(url);
    if (host === undefined || host === "") return false;
    return host === node.externalIP || host === node.internalIP;
  };
}

function hostOrUndefined(url: string): string | undefined {
  try {
    return parseHostPort(url).host;
  } catch {
    return undefined;
  }
}
