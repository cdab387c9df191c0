/**
 * Cluster info labels (NSM's /etc/clusterinfo/config.yaml, e.g. `clusterName: cluster-2`): a flat
 * YAML mapping merged into connection labels and NSE network service labels. Read at start; a
 * missing file means no labels.
 */
import { existsSync, readFileSync } from "node:fs";
import { parse } from "yaml";

export function readClusterInfo(path: string): Record<string, string> {
  if (!existsSync(path)) return {};
  const doc: unknown = parse(readFileSync(path, "utf8")) ?? {};
  if (typeof doc !== "object" || Array.isArray(doc)) throw new Error(`${path}: expected a mapping of label: value`);
  return Object.fromEntries(Object.entries(doc as Record<string, unknown>).map(([k, v]) => [k, String(v)]));
}
