/**
 * Feeds a NodeMap from a YAML file an operator (or a sidecar) writes:
 *
 *   nodes:
 *     - name: node-1
 *       internalIP: 10.0.0.11
 *       externalIP: 203.0.113.11
 *
 * The file is watched (its directory too, so a Kubernetes ConfigMap's symlink swap is seen) and
 * reloaded; a file that does not parse keeps the last good map and reports why.
 */
import { type FSWatcher, readFileSync, watch } from "node:fs";
import { basename, dirname } from "node:path";
import { isIP } from "node:net";
import { parse } from "yaml";
import type { NodeInfo, NodeMap } from "./node-map.js";

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

export interface NodeMapFileWatch {
  /** Re-reads the file now; resolves false (and reports) when it does not parse. */
  reload(): boolean;
  close(): void;
}

export function watchNodeMapFile(path: string, map: NodeMap, report: (message: string) => void): NodeMapFileWatch {
  const reload = () => {
    try {
      map.replace(parseNodeMap(readFileSync(path, "utf8"), path));
      return true;
    } catch (error: unknown) {
      report(`node map ${path} not loaded, keeping ${map.nodes().length} nodes: ${(error as Error).message}`);
      return false;
    }
  };
  reload();
  let timer: NodeJS.Timeout | undefined;
  const onChange = (_event: string, file: string | Buffer | null) => {
    if (file !== null && String(file) !== basename(path) && !String(file).startsWith("..")) return;
    clearTimeout(timer);
    timer = setTimeout(reload, 50);
  };
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(dirname(path), onChange);
    watcher.on("error", error => report(`node map watch on ${path} stopped: ${error.message}`));
  } catch (error: unknown) {
    report(`node map ${path} is not watched: ${(error as Error).message}`);
  }
  return {
    reload,
    close() {
      clearTimeout(timer);
      watcher?.close();
    },
  };
}
