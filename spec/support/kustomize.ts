/**
 * Renders manifests/ as `kubectl apply -k` would: scripts/ensure-kustomize.sh names the renderer
 * (`kubectl kustomize`, else a kustomize binary it built once), and an overlay is rendered alone or
 * with components added the way the README says (a kustomization listing the overlay and them).
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { parseAllDocuments } from "yaml";
import { ROOT } from "./root.js";

export const MANIFESTS = join(ROOT, "manifests");

export interface Resource {
  kind: string;
  apiVersion: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
}

let renderer: string[] | undefined;

function command(): string[] {
  renderer ??= execFileSync("bash", [join(ROOT, "scripts", "ensure-kustomize.sh")], { encoding: "utf8" }).trim().split(" ");
  return renderer;
}

export function renderDir(dir: string): Resource[] {
  const [file, ...args] = command();
  const text = execFileSync(file ?? "kubectl", [...args, dir], { encoding: "utf8", maxBuffer: 16 * 1024 * 1024 });
  return parseAllDocuments(text).flatMap(doc => {
    if (doc.errors.length > 0) throw new Error(`${dir}: ${doc.errors.map(e => e.message).join("; ")}`);
    const value = doc.toJS() as Resource | null;
    return value === null ? [] : [value];
  });
}

/** An overlay (manifests/overlays/<name>), with components (manifests/components/<name>) added. */
export function renderOverlay(overlay: string, components: string[] = []): Resource[] {
  if (components.length === 0) return renderDir(join(MANIFESTS, "overlays", overlay));
  const dir = mkdtempSync(join(tmpdir(), "pnsmgr-kustomize-"));
  try {
    const rel = (path: string) => relative(dir, path);
    writeFileSync(
      join(dir, "kustomization.yaml"),
      [
        "apiVersion: kustomize.config.k8s.io/v1beta1",
        "kind: Kustomization",
        "namespace: nsm-system",
        "resources:",
        `  - ${rel(join(MANIFESTS, "overlays", overlay))}`,
        "components:",
        ...components.map(c => `  - ${rel(join(MANIFESTS, "components", c))}`),
        "",
      ].join("\n"),
    );
    return renderDir(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
