/**
 * The Kubernetes manifests and the Dockerfile agree with the code: names and selectors as in the
 * seed, container ports equal to the listen ports the env sets, every env var a known option whose
 * value loads, the node map file mounted from its ConfigMap and parseable, both ports exposed; and
 * the Redis with Sentinel that the state env points at exists under the names and ports it uses.
 */
import test from "ava";
import { readFileSync, readdirSync } from "node:fs";
import { basename, dirname, join, posix } from "node:path";
import { fileURLToPath } from "node:url";
import { parse, parseAllDocuments } from "yaml";
import { OPTIONS, loadConfig } from "../../lib/config.js";
import { parseHostPort } from "../../lib/domains/address.js";
import { parseNodeMap } from "../../lib/nodes/node-map-file.js";
import { STATE_ENV, stateOptionsFromEnv } from "../../lib/state/state.js";

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
  command?: string[];
  args?: string[];
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
  emptyDir?: Record<string, unknown>;
}
interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: "In" | "NotIn" | "Exists" | "DoesNotExist"; values?: string[] }[];
}
interface PodTemplate {
  metadata: { labels: Record<string, string> };
  spec: { containers: Container[]; volumes?: Volume[]; securityContext?: { runAsNonRoot?: boolean; runAsUser?: number } };
}
interface StatefulSet {
  kind: "StatefulSet";
  metadata: { name: string; namespace?: string };
  spec: { serviceName: string; replicas: number; selector: LabelSelector; template: PodTemplate; volumeClaimTemplates?: unknown[] };
}
interface NetworkPolicy {
  kind: "NetworkPolicy";
  metadata: { name: string; namespace?: string };
  spec: { podSelector: LabelSelector; ingress?: { from?: { podSelector?: LabelSelector }[]; ports?: { port: number | string; protocol?: string }[] }[] };
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
  spec: { selector: Record<string, string>; clusterIP?: string; publishNotReadyAddresses?: boolean; ports: { name?: string; port: number; targetPort?: number | string; protocol?: string }[] };
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
  const known = new Set<string>([...OPTIONS.map(o => o.env), ...Object.keys(STATE_ENV), "NODE_NAME"]);
  for (const e of c.env ?? []) t.true(known.has(e.name), `${e.name} is not an option in lib/config.ts or STATE_ENV in lib/state/state.ts`);
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

// ---- Redis with Sentinel (manifests/redis.yaml) and the state env that points at it ----

/** Whether a Kubernetes label selector selects pods with these labels. */
function selects(selector: LabelSelector, labels: Record<string, string>): boolean {
  const byLabels = Object.entries(selector.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
  const byExpressions = (selector.matchExpressions ?? []).every(e => {
    const value = labels[e.key];
    switch (e.operator) {
      case "In":
        return value !== undefined && (e.values ?? []).includes(value);
      case "NotIn":
        return value === undefined || !(e.values ?? []).includes(value);
      case "Exists":
        return value !== undefined;
      case "DoesNotExist":
        return value === undefined;
    }
  });
  return byLabels && byExpressions;
}

const redisSet = find<StatefulSet>("StatefulSet", "redis");
const sentinelSet = find<StatefulSet>("StatefulSet", "redis-sentinel");
const onlyContainer = (set: StatefulSet): Container => {
  const [only, ...more] = set.spec.template.spec.containers;
  if (!only || more.length > 0) throw new Error(`${set.metadata.name}: expected one container`);
  return only;
};
const stateOptions = () => stateOptionsFromEnv(plainEnv(container()));
/** The ConfigMap file a container runs as `sh <mountPath>/<file>`, and that ConfigMap's data. */
function script(set: StatefulSet): { text: string; data: Record<string, string> } {
  const c = onlyContainer(set);
  const path = [...(c.command ?? []), ...(c.args ?? [])].find(a => a.endsWith(".sh"));
  if (!path) throw new Error(`${set.metadata.name}: no script in its command`);
  const mount = (c.volumeMounts ?? []).find(m => posix.dirname(path) === m.mountPath);
  const volume = set.spec.template.spec.volumes?.find(v => v.name === mount?.name);
  if (!volume?.configMap) throw new Error(`${set.metadata.name}: ${path} is not mounted from a ConfigMap`);
  const data = find<ConfigMap>("ConfigMap", volume.configMap.name).data ?? {};
  const text = data[posix.basename(path)];
  if (text === undefined) throw new Error(`ConfigMap ${volume.configMap.name} has no ${posix.basename(path)}`);
  return { text, data };
}
/** `sentinel <directive> <master> <args...>` lines of the sentinel configuration the sentinels start from. */
function sentinelConf(): { monitor: { name: string; host: string; port: number; quorum: number }; directives: Map<string, string[]> } {
  const conf = script(sentinelSet).data["sentinel.conf"];
  if (conf === undefined) throw new Error("no sentinel.conf next to the sentinel's script");
  const lines = conf.split("\n").map(l => l.trim().split(/\s+/));
  const monitors = lines.filter(l => l[0] === "sentinel" && l[1] === "monitor");
  if (monitors.length !== 1) throw new Error(`expected one "sentinel monitor" line, found ${monitors.length}`);
  const [, , name, host, port, quorum] = monitors[0]!;
  const directives = new Map(lines.filter(l => l[0] === "sentinel" && l[2] === name).map(l => [l[1]!, l.slice(3)]));
  return { monitor: { name: name!, host: host!, port: Number(port), quorum: Number(quorum) }, directives };
}
/** "name.namespace[.svc[.cluster.local]]" -> the Service it names. */
function serviceByDnsName(host: string): Service | undefined {
  const [name, namespace, ...rest] = host.split(".");
  if (!["", "svc", "svc.cluster.local"].includes(rest.join("."))) return undefined;
  return resources.find(r => r.kind === "Service" && r.metadata.name === name && r.metadata.namespace === namespace) as Service | undefined;
}

test("the DaemonSet keeps its state in Redis through the sentinels, and the state env parses", t => {
  const options = stateOptions();
  if (options.kind !== "redis") return t.fail(`state is ${options.kind}, not redis`);
  t.is(options.url, undefined);
  t.deepEqual(options.sentinels, [{ host: "redis-sentinel.nsm-system", port: 26379 }]);
  t.is(options.masterName, "mymaster");
  t.is(options.waitReplicas, 1);
  // Every state variable the DaemonSet sets is one stateOptionsFromEnv reads.
  const env = envOf(container());
  for (const name of Object.keys(STATE_ENV)) if (env.has(name)) t.is(env.get(name)?.valueFrom, undefined, `${name} is a plain value`);
});

test("PNSMGR_REDIS_SENTINELS names the port of Service redis-sentinel, which reaches the sentinels", t => {
  const options = stateOptions();
  if (options.kind !== "redis" || !options.sentinels) return t.fail("no sentinels");
  const pods = sentinelSet.spec.template;
  for (const { host, port } of options.sentinels) {
    const svc = serviceByDnsName(host);
    if (!svc) return t.fail(`${host} is not a Service in manifests/`);
    t.is(svc.metadata.name, "redis-sentinel");
    const svcPort = svc.spec.ports.find(p => p.port === port);
    if (!svcPort) return t.fail(`Service ${svc.metadata.name} has no port ${port}`);
    t.true(selects({ matchLabels: svc.spec.selector }, pods.metadata.labels), "the Service selects the sentinel pods");
    const target = svcPort.targetPort ?? svcPort.port;
    const containerPort = onlyContainer(sentinelSet).ports?.find(p => (typeof target === "number" ? p.containerPort === target : p.name === target));
    t.is(containerPort?.containerPort, 26379, `Service port ${port} -> ${String(target)} is the sentinel's port`);
  }
});

test("StatefulSets redis and redis-sentinel select their own pods, each behind its headless Service", t => {
  for (const set of [redisSet, sentinelSet]) {
    const labels = set.spec.template.metadata.labels;
    t.true(selects(set.spec.selector, labels), `${set.metadata.name} selects its pods`);
    const svc = find<Service>("Service", set.spec.serviceName);
    t.is(svc.spec.clusterIP, "None", `Service ${svc.metadata.name} is headless (stable pod names)`);
    t.true(svc.spec.publishNotReadyAddresses, `Service ${svc.metadata.name} publishes pods before they are ready`);
    t.true(selects({ matchLabels: svc.spec.selector }, labels), `Service ${svc.metadata.name} selects ${set.metadata.name}'s pods`);
    // No Service or StatefulSet selects another set's pods.
    for (const other of [redisSet, sentinelSet, daemonSet].filter(o => o !== set)) {
      t.false(selects(set.spec.selector, other.spec.template.metadata.labels), `${set.metadata.name} selects ${other.metadata.name}'s pods`);
      t.false(selects({ matchLabels: svc.spec.selector }, other.spec.template.metadata.labels), `Service ${svc.metadata.name} selects ${other.metadata.name}'s pods`);
    }
    for (const port of svc.spec.ports) {
      const target = port.targetPort ?? port.port;
      t.truthy(onlyContainer(set).ports?.find(p => (typeof target === "number" ? p.containerPort === target : p.name === target)), `${svc.metadata.name}:${port.port}`);
    }
  }
  t.false(selects({ matchLabels: service.spec.selector }, redisSet.spec.template.metadata.labels));
  t.is(redisSet.spec.replicas, 3, "a master and two replicas");
  t.is(sentinelSet.spec.replicas, 3, "three sentinels");
});

test("the sentinels monitor the master name pnsmgr asks for, at redis-0 by its stable name, with a majority quorum", t => {
  const options = stateOptions();
  const { monitor, directives } = sentinelConf();
  t.is(monitor.name, options.kind === "redis" ? options.masterName : "");
  const [pod, ...rest] = monitor.host.split(".");
  const svc = serviceByDnsName(rest.join("."));
  t.is(svc?.metadata.name, redisSet.spec.serviceName, `${monitor.host} is a pod of Service ${redisSet.spec.serviceName}`);
  t.is(pod, `${redisSet.metadata.name}-0`);
  t.is(monitor.port, 6379);
  t.true(svc?.spec.ports.some(p => p.port === monitor.port));
  t.true(monitor.quorum > sentinelSet.spec.replicas / 2 && monitor.quorum <= sentinelSet.spec.replicas, `quorum ${monitor.quorum} of ${sentinelSet.spec.replicas}`);
  t.deepEqual(directives.get("down-after-milliseconds"), ["5000"]);
  t.truthy(Number(directives.get("failover-timeout")?.[0]) > 0);
  t.deepEqual(directives.get("parallel-syncs"), ["1"]);
  // Waiting for more replicas than there are would fail every Request.
  if (options.kind === "redis") t.true(options.waitReplicas <= redisSet.spec.replicas - 1);
});

test("each sentinel's configuration is written to an emptyDir, which Sentinel can rewrite", t => {
  const { text } = script(sentinelSet);
  const exec = /exec redis-server (\S+) --sentinel/.exec(text);
  if (!exec) return t.fail("the sentinel script does not exec redis-server <conf> --sentinel");
  const conf = exec[1]!;
  t.true(posix.isAbsolute(conf));
  const c = onlyContainer(sentinelSet);
  const mount = (c.volumeMounts ?? []).find(m => conf.startsWith(`${m.mountPath}/`));
  const volume = sentinelSet.spec.template.spec.volumes?.find(v => v.name === mount?.name);
  t.truthy(volume?.emptyDir, `${conf} is not on an emptyDir`);
  t.regex(text, new RegExp(`cp .*sentinel\\.conf`), "the script copies sentinel.conf from the ConfigMap");
});

test("Redis runs redis:7 without persistence, with resource requests, non-root", t => {
  for (const set of [redisSet, sentinelSet]) {
    const c = onlyContainer(set);
    t.is(c.image, "redis:7", set.metadata.name);
    t.truthy(c.resources?.requests?.cpu, `${set.metadata.name} cpu request`);
    t.truthy(c.resources?.requests?.memory, `${set.metadata.name} memory request`);
    t.truthy(c.resources?.limits?.memory, `${set.metadata.name} memory limit`);
    t.is(set.spec.volumeClaimTemplates, undefined, `${set.metadata.name} has no PersistentVolume`);
    const security = set.spec.template.spec.securityContext;
    t.true(security?.runAsNonRoot === true && (security.runAsUser ?? 0) > 0, `${set.metadata.name} runs as a non-root user`);
  }
  const { text } = script(redisSet);
  t.regex(text, /--save ""/);
  t.regex(text, /--appendonly no/);
  t.regex(text, /--maxmemory-policy noeviction/);
});

test("the NetworkPolicy lets pnsmgr's pods and the Redis pods, and no others, reach Redis and the sentinels", t => {
  const policy = find<NetworkPolicy>("NetworkPolicy", "redis");
  for (const set of [redisSet, sentinelSet]) t.true(selects(policy.spec.podSelector, set.spec.template.metadata.labels), `applies to ${set.metadata.name}`);
  t.false(selects(policy.spec.podSelector, pod.metadata.labels), "does not apply to pnsmgr's pods");
  const rules = policy.spec.ingress ?? [];
  const allowed = (labels: Record<string, string>, port: number) =>
    rules.some(r => (r.from ?? []).some(f => f.podSelector && selects(f.podSelector, labels)) && (r.ports ?? []).some(p => p.port === port));
  for (const port of [6379, 26379]) {
    for (const labels of [pod.metadata.labels, redisSet.spec.template.metadata.labels, sentinelSet.spec.template.metadata.labels]) {
      t.true(allowed(labels, port), `${JSON.stringify(labels)} -> ${port}`);
    }
    t.false(allowed({ app: "something-else" }, port));
  }
});
