/**
 * Feeds a NodeMap from a YAML file an operator (or a sidecar) writes:
 *
 *   nodes:
 *     - name: node-1
 *       internalIP: 10.0.0.11
 *       externalIP: 203.0.113.11
 *
 * The file is watched and reloaded (watched-file.ts); a file that does not parse keeps the last good
 * map and reports why.
 */
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { parse } from "yaml";
import type { NodeInfo, NodeMap } from "./node-map.js";
import { type WatchedFile, watchFile } from "./watched-file.js";

export function parseNodeMap(text: string, source = "node map"): NodeInfo[] {
  const doc: unknown = parse(text) ?? {};
  const nodes = (doc as { nodes?: unknown }).nodes ?? [];
  if (!Array.isArray(nodes)) throw new Error(`${source}: "nodes" must be a list`);
  return nodes.map((entry: unknown, i) => {
    const n = (entry ?? {}) as Record<string, unknown>;
    const name = typeof n.name === "string" ? n.name : "";
    const internalIP = typeof n.internalIP === "string" ? n.internalIP : "";
    const externalIP = typeof n.externalIP === "string" ? n.externalIP : "";
    if (!name) throw new Error(`${source}: nodes[${i}] has no name`);
    for (const [field, ip] of [["internalIP", internalIP], ["externalIP", externalIP]] as const) {
      if (ip && !isIP(ip)) throw new Error(`${source}: nodes[${i}].${field} "${ip}" is not an IP address`);
    }
    if (!internalIP && !externalIP) throw new Error(`${source}: nodes[${i}] (${name}) has neither internalIP nor externalIP`);
    return { name, internalIP, externalIP };
  });
}

export type NodeMapFileWatch = WatchedFile;

export function watchNodeMapFile(path: string, map: NodeMap, report: (message: string) => void): NodeMapFileWatch {
  const load = () => map.replace(parseNodeMap(readFileSync(path, "utf8"), path));
  return watchFile(path, { label: "node map", load, kept: () => `${map.nodes().length} nodes` }, report);
}
