/**
 * The Kubernetes manifests and the Dockerfile agree with the code: names and selectors as in the
 * seed, container ports equal to the listen ports the env sets, every env var a known option whose
 * value loads, the node map file mounted from its ConfigMap and parseable, both ports exposed.
 */
import test from "ava";
import { readFileSync, readdirSync } from "node:fs";
import { basename, dirname, join, posix } from "node:path";
import { fileURLToPath } from "node:url";
import { parse, parseAllDocuments } from "yaml";
import { OPTIONS, loadConfig } from "../../lib/config.js";
import { parseHostPort } from "../../lib/domains/address.js";
import { parseNodeMap } from "../../lib/nodes/node-map-file.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const MANIFESTS = join(ROOT, "manifests");

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { fieldPath?: string }; configMapKeyRef?: unknown; secretKeyRef?: unknown };
}
interface ContainerPort {
  name?: string;
  containerPort: number;
  hostPort?: number;
  protocol?: string;
}
interface Probe {
  grpc?: { port: number; service?: string };
}
interface Container {
  name: string;
  image: string;
  ports?: ContainerPort[];
  env?: EnvVar[];
  volumeMounts?: { name: string; mountPath: string; subPath?: string }[];
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
}
interface Volume {
  name: string;
  configMap?: { name: string; items?: { key: string; path: string }[] };
}
interface DaemonSet {
  kind: "DaemonSet";
  metadata: { name: string; namespace?: string };
  spec: {
    selector: { matchLabels: Record<string, string> };
    template: { metadata: { labels: Record<string, string> }; spec: { containers: Container[]; volumes?: Volume[] } };
  };
}
interface Service {
  kind: "Service";
  metadata: { name: string; namespace?: string };
  spec: { selector: Record<string, string>; ports: { name?: string; port: number; targetPort?: number | string; protocol?: string }[] };
}
interface ConfigMap {
  kind: "ConfigMap";
  metadata: { name: string; namespace?: string };
  data?: Record<string, string>;
}
type Resource = { kind: string; metadata: { name: string; namespace?: string } };

/** Every document of every file the kustomization lists. */
function loadResources(): Resource[] {
  const kustomization = parse(readFileSync(join(MANIFESTS, "kustomization.yaml"), "utf8")) as { resources?: string[] };
  const resources: Resource[] = [];
  for (const file of kustomization.resources ?? []) {
    for (const doc of parseAllDocuments(readFileSync(join(MANIFESTS, file), "utf8"))) {
      if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors.map(e => e.message).join("; ")}`);
      const value = doc.toJS() as Resource | null;
      if (value !== null) resources.push(value);
    }
  }
  return resources;
}

const resources = loadResources();

function find<T extends Resource>(kind: T["kind"], name: string): T {
  const found = resources.find(r => r.kind === kind && r.metadata.name === name);
  if (!found) throw new Error(`no ${kind} ${name} in manifests/`);
  return found as T;
}

const daemonSet = find<DaemonSet>("DaemonSet", "proxy-nsmgr");
const service = find<Service>("Service", "pnsmgr-svc");
const pod = daemonSet.spec.template;
const container = (): Container => {
  const [only, ...more] = pod.spec.containers;
  if (!only || more.length > 0) throw new Error(`expected one container, found ${pod.spec.containers.length}`);
  return only;
};
const envOf = (c: Container) => new Map((c.env ?? []).map(e => [e.name, e]));
/** The env vars with plain values, as loadConfig would see them in the pod. */
const plainEnv = (c: Container) => Object.fromEntries((c.env ?? []).filter(e => e.valueFrom === undefined).map(e => [e.name, e.value ?? ""]));

test("the kustomization lists every manifest file", t => {
  const kustomization = parse(readFileSync(join(MANIFESTS, "kustomization.yaml"), "utf8")) as { resources?: string[] };
  const files = readdirSync(MANIFESTS).filter(f => /\.ya?ml$/.test(f) && f !== "kustomization.yaml");
  t.deepEqual([...(kustomization.resources ?? [])].sort(), files.sort());
});

test("the namespace nsm-system is created and holds every namespaced resource", t => {
  t.truthy(resources.find(r => r.kind === "Namespace" && r.metadata.name === "nsm-system"));
  for (const r of resources.filter(r => r.kind !== "Namespace")) t.is(r.metadata.namespace, "nsm-system", `${r.kind} ${r.metadata.name}`);
});

test("DaemonSet proxy-nsmgr selects its own pods, like the seed's", t => {
  t.is(daemonSet.metadata.namespace, "nsm-system");
  t.deepEqual(daemonSet.spec.selector.matchLabels, { app: "proxy-nsmgr-daemonset" });
  t.like(pod.metadata.labels, daemonSet.spec.selector.matchLabels);
});

test("one container pnsmgr from the image our Dockerfile builds", t => {
  const c = container();
  t.is(c.name, "pnsmgr");
  t.is(c.image, "pnsmgr:latest");
  t.truthy(c.resources?.requests?.cpu);
  t.truthy(c.resources?.requests?.memory);
});

test("Service pnsmgr-svc: the seed's ports and a selector matching the pods", t => {
  t.is(service.metadata.namespace, "nsm-system");
  t.deepEqual(service.spec.selector, { app: "proxy-nsmgr-daemonset" });
  t.like(pod.metadata.labels, service.spec.selector);
  t.deepEqual(
    service.spec.ports.map(p => ({ name: p.name, port: p.port, protocol: p.protocol })),
    [
      { name: "pnsmd", port: 5005, protocol: "TCP" },
      { name: "pnsr", port: 5006, protocol: "TCP" },
    ],
  );
  // Each Service port lands on a container port (targetPort defaults to port).
  const ports = container().ports ?? [];
  for (const p of service.spec.ports) {
    const target = p.targetPort ?? p.port;
    t.truthy(
      ports.find(cp => (typeof target === "number" ? cp.containerPort === target : cp.name === target)),
      `Service port ${p.name} -> ${String(target)} has no container port`,
    );
  }
});

test("container ports are the listen ports the env sets, open on the host as in the seed", t => {
  const c = container();
  const config = loadConfig(plainEnv(c));
  const listen = [config.apiAddress, config.registryAddress].map(a => parseHostPort(a, "listen address", true).port);
  t.deepEqual(listen, [5006, 5005]);
  const ports = c.ports ?? [];
  t.deepEqual(ports.map(p => p.containerPort).sort(), [...listen].sort());
  for (const p of ports) t.is(p.hostPort, p.containerPort, `hostPort of ${p.containerPort}`);
});

test("every env var is a known option and every plain value loads", t => {
  const c = container();
  const known = new Set<string>([...OPTIONS.map(o => o.env), "NODE_NAME"]);
  for (const e of c.env ?? []) t.true(known.has(e.name), `${e.name} is not an option in lib/config.ts`);
  t.notThrows(() => loadConfig(plainEnv(c)));
});

test("the seed's variables are written out with the seed's defaults; NODE_NAME comes from the node", t => {
  const env = envOf(container());
  const defaults = new Map<string, string | undefined>(OPTIONS.map(o => [o.env, o.default]));
  for (const name of ["PROXY_NSMD_API_ADDRESS", "PROXY_NSMD_K8S_ADDRESS", "PROXY_NSMD_K8S_REMOTE_PORT", "PROXY_NSMD_ADDRESS"]) {
    t.is(env.get(name)?.value, defaults.get(name), name);
  }
  t.is(env.get("NODE_NAME")?.valueFrom?.fieldRef?.fieldPath, "spec.nodeName");
});

test("the node map file is mounted from ConfigMap pnsmgr-node-map and parses", t => {
  const c = container();
  const path = envOf(c).get("PNSMGR_NODE_MAP_FILE")?.value;
  if (!path) return t.fail("PNSMGR_NODE_MAP_FILE is not set");
  t.true(posix.isAbsolute(path));
  // The whole directory is mounted (no subPath), so the ConfigMap's symlink swap reaches the watcher.
  const mount = (c.volumeMounts ?? []).find(m => posix.dirname(path) === m.mountPath);
  if (!mount) return t.fail(`no volume is mounted at ${posix.dirname(path)}`);
  t.is(mount.subPath, undefined);
  const volume = (pod.spec.volumes ?? []).find(v => v.name === mount.name);
  t.is(volume?.configMap?.name, "pnsmgr-node-map");
  const file = basename(path);
  const key = volume?.configMap?.items ? volume.configMap.items.find(i => i.path === file)?.key : file;
  const configMap = find<ConfigMap>("ConfigMap", "pnsmgr-node-map");
  const text = key === undefined ? undefined : configMap.data?.[key];
  if (text === undefined) return t.fail(`ConfigMap pnsmgr-node-map has no key for ${file}`);
  const nodes = parseNodeMap(text, "ConfigMap pnsmgr-node-map");
  t.true(nodes.length > 0);
  for (const n of nodes) t.truthy(n.internalIP && n.externalIP, n.name);
});

test("readiness and liveness probe grpc.health.v1 on a served port", t => {
  const c = container();
  const served = new Set((c.ports ?? []).map(p => p.containerPort));
  for (const probe of [c.readinessProbe, c.livenessProbe]) {
    t.is(probe?.grpc?.port, 5006);
    t.true(served.has(probe?.grpc?.port ?? -1));
  }
});

const dockerfile = readFileSync(join(ROOT, "Dockerfile"), "utf8");
const instructions = dockerfile
  .replace(/\\\n/g, " ")
  .split("\n")
  .map(line => line.trim())
  .filter(line => line !== "" && !line.startsWith("#"));

test("the Dockerfile exposes both ports and runs lib/main.ts as a non-root user", t => {
  const exposed = instructions.filter(i => /^EXPOSE\s/i.test(i)).flatMap(i => i.split(/\s+/).slice(1).map(p => Number(p.replace(/\/tcp$/, ""))));
  t.deepEqual([...exposed].sort(), [5005, 5006]);
  const user = instructions.filter(i => /^USER\s/i.test(i)).at(-1)?.split(/\s+/)[1];
  t.truthy(user, "no USER");
  t.false(["root", "0", "0:0", "root:root"].includes(user ?? ""), `USER ${user}`);
  t.regex(instructions.filter(i => /^CMD\s/i.test(i)).at(-1) ?? "", /lib\/main\.ts/);
  const copied = instructions.filter(i => /^COPY\s/i.test(i)).flatMap(i => i.split(/\s+/).slice(1, -1).filter(a => !a.startsWith("--")));
  for (const source of ["package.json", "package-lock.json", "lib", "generated"]) t.true(copied.includes(source), `COPY ${source}`);
});

/** Bare package imports of runtime code (type-only imports are erased and need nothing). */
function runtimeImports(dir: string): Set<string> {
  const found = new Set<string>();
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !entry.name.endsWith(".ts")) continue;
    const text = readFileSync(join(entry.parentPath, entry.name), "utf8");
    for (const match of text.matchAll(/^\s*(import|export)\s+(type\s+)?(?:[^;]*?\sfrom\s+)?["']([^"']+)["']/gm)) {
      const [, , typeOnly, specifier] = match;
      if (typeOnly || !specifier || specifier.startsWith(".") || specifier.startsWith("node:")) continue;
      const parts = specifier.split("/");
      found.add(specifier.startsWith("@") ? parts.slice(0, 2).join("/") : (parts[0] ?? specifier));
    }
  }
  return found;
}

test("the image's `npm ci --omit=dev` holds every package lib/ and generated/ import, and tsx", t => {
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { dependencies?: Record<string, string> };
  const production = new Set(Object.keys(pkg.dependencies ?? {}));
  const needed = new Set([...runtimeImports(join(ROOT, "lib")), ...runtimeImports(join(ROOT, "generated")), "tsx"]);
  t.true(needed.has("@grpc/grpc-js") && needed.has("rxjs"), `import scan found only ${[...needed].join(", ")}`);
  const missing = [...needed].filter(p => !production.has(p));
  t.deepEqual(missing, [], `not in package.json dependencies: ${missing.join(", ")}`);
  t.true(instructions.some(i => /npm ci\b.*--omit=dev/.test(i)));
});
