/**
 * The address at which an NSMgr on one of this domain's nodes is reached from other domains: its URL
 * with the host replaced by the node's external IP (its internal IP when it has no external one),
 * the port kept. The node is found by the URL's IP first, then by the NSMgr's name as a node name
 * (the seed keyed NSMgrs by node name). Undefined when the URL is not host:port or no node matches.
 */
import { parseHostPort, withHost } from "../../domains/address.js";
import type { NodeMap } from "../../nodes/node-map.js";

export function externalUrl(nodes: NodeMap, url: string, nsmName: string): string | undefined {
  let host: string;
  try {
    host = parseHostPort(url).host;
  } catch {
    return undefined;
  }
  const byName = nodes.byName(nsmName);
  const external = nodes.externalOf(host) ?? (byName ? byName.externalIP || byName.internalIP : undefined);
  if (!external) return undefined;
  return withHost(url, external);
}
