/**
 * The node IP map: which node owns an IP, and that node's external IP. The seed listed Kubernetes
 * nodes on every call; here a source (a watched file, or the Kubernetes Node informer) replaces the
 * whole map at once and readers see a consistent snapshot.
 */
export interface NodeInfo {
  readonly name: string;
  readonly internalIP: string;
  readonly externalIP: string;
}

export interface NodeMap {
  nodes(): readonly NodeInfo[];
  byName(name: string): NodeInfo | undefined;
  /** The node whose internal or external IP is `ip`. */
  byIP(ip: string): NodeInfo | undefined;
  /** The external IP for an internal (or external) IP; undefined when no node owns it. */
  externalOf(ip: string): string | undefined;
  replace(nodes: readonly NodeInfo[]): void;
}

export function createNodeMap(initial: readonly NodeInfo[] = []): NodeMap {
  let list: readonly NodeInfo[] = [];
  let names = new Map<string, NodeInfo>();
  let ips = new Map<string, NodeInfo>();
  const map: NodeMap = {
    nodes: () => list,
    byName: name => names.get(name),
    byIP: ip => ips.get(ip),
    externalOf: ip => {
      const node = ips.get(ip);
      if (!node) return undefined;
      return node.externalIP || node.internalIP;
    },
    replace(next) {
      list = [...next];
      names = new Map(list.map(n => [n.name, n]));
      ips = new Map();
      // Internal IPs first, so an IP that is one node's internal and another's external maps to its own node.
      for (const n of list) if (n.externalIP && !ips.has(n.externalIP)) ips.set(n.externalIP, n);
      for (const n of list) if (n.internalIP) ips.set(n.internalIP, n);
    },
  };
  map.replace(initial);
  return map;
}
