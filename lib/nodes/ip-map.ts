/**
 * NSM v1's IP map (the map-ip.yaml that cmd-map-ip-k8s writes): a flat YAML mapping of IP -> IP,
 * holding internal -> external and external -> itself (and pod IP -> node IP). Watched and reloaded
 * like the node map; a file that does not parse keeps the last good map.
 */
import { existsSync, readFileSync } from "node:fs";
import { isIP } from "node:net";
import { parse } from "yaml";
import { type WatchedFile, watchFile } from "./watched-file.js";

export interface IpMap {
  /** The mapped IP, or undefined when the IP is not in the map. */
  get(ip: string): string | undefined;
  size(): number;
  replace(entries: ReadonlyMap<string, string>): void;
}

export function createIpMap(initial: Iterable<[string, string]> = []): IpMap {
  let entries = new Map(initial);
  return {
    get: ip => entries.get(ip),
    size: () => entries.size,
    replace(next) {
      entries = new Map(next);
    },
  };
}

export function parseIpMap(text: string, source = "IP map"): Map<string, string> {
  const doc: unknown = parse(text) ?? {};
  if (typeof doc !== "object" || Array.isArray(doc)) throw new Error(`${source}: expected a mapping of IP: IP`);
  const out = new Map<string, string>();
  for (const [from, to] of Object.entries(doc as Record<string, unknown>)) {
    if (!isIP(from)) throw new Error(`${source}: key "${from}" is not an IP address`);
    if (typeof to !== "string" || !isIP(to)) throw new Error(`${source}: value of ${from} ("${String(to)}") is not an IP address`);
    out.set(from, to);
  }
  return out;
}

export type IpMapWatch = WatchedFile;

/** A missing file is an empty map (the Go proxy starts without one too) and is picked up when it appears. */
export function watchIpMapFile(path: string, map: IpMap, report: (message: string) => void): IpMapWatch {
  const load = () => map.replace(existsSync(path) ? parseIpMap(readFileSync(path, "utf8"), path) : new Map());
  return watchFile(path, { label: "IP map", load, kept: () => `${map.size()} entries` }, report);
}
