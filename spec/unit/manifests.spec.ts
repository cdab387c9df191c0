/**
 * The manifests' contract, checked on what `kubectl apply -k` would send: every overlay (v0, v1) is
 * rendered with kustomize (spec/support/kustomize.ts), alone and with the redis-sentinel component,
 * and the rendered YAML is held to it: no Namespace object, everything in nsm-system; the workload
 * of its generation with NSM's names, ports and env (every variable known and every value loading);
 * ServiceAccount with get/list/watch on nodes; the SPIRE agent socket from the SPIFFE CSI driver;
 * seccomp RuntimeDefault, non-root, read-only root, no privilege escalation, no capabilities;
 * requests; a PodDisruptionBudget; gRPC health probes on the listener; Redis credentials from Secret
 * pnsmgr-redis on both sides; and the Redis with Sentinel the state env points at.
 */
import test from "ava";
import { posix } from "node:path";
import { OPTIONS, loadConfig } from "../../lib/config.js";
import { parseHostPort } from "../../lib/domains/address.js";
import { parseIpMap } from "../../lib/nodes/ip-map.js";
import { parseNodeMap } from "../../lib/nodes/node-map-file.js";
import { STATE_ENV, stateOptionsFromEnv } from "../../lib/state/state.js";
import { type Resource, renderOverlay } from "../support/kustomize.js";

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { fieldPath?: string }; secretKeyRef?: { name: string; key: string }; configMapKeyRef?: unknown };
}
interface ContainerPort {
  name?: string;
  containerPort: number;
  hostPort?: number;
  protocol?: string;
}
interface Probe {
  grpc?: { port: number; service?: string };
  exec?: { command: string[] };
}
interface SecurityContext {
  runAsNonRoot?: boolean;
  runAsUser?: number;
  readOnlyRootFilesystem?: boolean;
  allowPrivilegeEscalation?: boolean;
  capabilities?: { drop?: string[]; add?: string[] };
  seccompProfile?: { type: string };
}
interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  ports?: ContainerPort[];
  env?: EnvVar[];
  volumeMounts?: { name: string; mountPath: string; subPath?: string; readOnly?: boolean }[];
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: SecurityContext;
}
interface Volume {
  name: string;
  configMap?: { name: string; optional?: boolean; items?: { key: string; path: string }[] };
  emptyDir?: Record<string, unknown>;
  csi?: { driver: string; readOnly?: boolean };
  hostPath?: unknown;
}
interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: "In" | "NotIn" | "Exists" | "DoesNotExist"; values?: string[] }[];
}
interface PodTemplate {
  metadata: { labels: Record<string, string> };
  spec: { serviceAccountName?: string; containers: Container[]; volumes?: Volume[]; securityContext?: SecurityContext };
}
interface Workload extends Resource {
  spec: { replicas?: number; serviceName?: string; selector: LabelSelector; template: PodTemplate; volumeClaimTemplates?: unknown[] };
}
interface Service extends Resource {
  spec: { type?: string; selector: Record<string, string>; clusterIP?: string; publishNotReadyAddresses?: boolean; ports: { name?: string; port: number; targetPort?: number | string; protocol?: string }[] };
}
interface ConfigMap extends Resource {
  data?: Record<string, string>;
}
interface ClusterRole extends Resource {
  rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[];
}
interface ClusterRoleBinding extends Resource {
  roleRef: { kind: string; name: string };
  subjects: { kind: string; name: string; namespace?: string }[];
}
interface PodDisruptionBudget extends Resource {
  spec: { selector: LabelSelector; maxUnavailable?: number | string; minAvailable?: number | string };
}
interface NetworkPolicy extends Resource {
  spec: { podSelector: LabelSelector; ingress?: { from?: { podSelector?: LabelSelector }[]; ports?: { port: number | string; protocol?: string }[] }[] };
}

const NAMESPACE = "nsm-system";
/** Variables pnsmgr does not read as options, each with why it is set. */
const OTHER_ENV: Record<string, string> = {
  SPIFFE_ENDPOINT_SOCKET: "the SPIRE Workload API socket, as NSM's components get it",
  POD_IP: "this pod's IP, expanded into PNSMGR_PUBLIC_URL",
  // Added to STATE_ENV by the Redis authentication change (issue 11); named here until then.
  PNSMGR_REDIS_PASSWORD: "Redis password (Secret pnsmgr-redis, key password)",
  PNSMGR_REDIS_SENTINEL_PASSWORD: "Sentinel password (Secret pnsmgr-redis, key sentinel-password)",
};
const SECRET = "pnsmgr-redis";

/** What one rendering holds, with lookups. */
function rendered(overlay: "v0" | "v1", components: string[]) {
  const resources = renderOverlay(overlay, components);
  const all = <T extends Resource>(kind: string) => resources.filter(r => r.kind === kind) as T[];
  const find = <T extends Resource>(kind: string, name: string): T => {
    const found = resources.find(r => r.kind === kind && r.metadata.name === name);
    if (!found) throw new Error(`${overlay}: no ${kind} ${name}`);
    return found as T;
  };
  const workloads = resources.filter(r => (r.kind === "DaemonSet" || r.kind === "Deployment") && r.metadata.labels?.["app.kubernetes.io/name"] === "pnsmgr") as Workload[];
  if (workloads.length !== 1) throw new Error(`${overlay}: expected one pnsmgr workload, found ${workloads.length}`);
  const workload = workloads[0]!;
  const [container, ...more] = workload.spec.template.spec.containers;
  if (!container || more.length > 0) throw new Error(`${overlay}: expected one container`);
  return { overlay, components, resources, all, find, workload, pod: workload.spec.template, container };
}
type Rendered = ReturnType<typeof rendered>;

const VARIANTS: [string, () => Rendered][] = [
  ["v0", () => rendered("v0", [])],
  ["v1", () => rendered("v1", [])],
  ["v0 + redis-sentinel", () => rendered("v0", ["redis-sentinel"])],
  ["v1 + redis-sentinel", () => rendered("v1", ["redis-sentinel"])],
];
const cache = new Map<string, Rendered>();
const get = (name: string) => {
  const make = VARIANTS.find(([n]) => n === name)?.[1];
  if (!make) throw new Error(name);
  if (!cache.has(name)) cache.set(name, make());
  return cache.get(name)!;
};

const envOf = (c: Container) => new Map((c.env ?? []).map(e => [e.name, e]));
/** Plain env values as the container sees them: $(VAR) references expanded from earlier variables. */
function plainEnv(c: Container, fieldValues: Record<string, string> = { "status.podIP": "10.244.1.7", "spec.nodeName": "node-1", "metadata.name": "pod-1" }): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of c.env ?? []) {
    if (e.value !== undefined) out[e.name] = e.value.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (whole, name: string) => out[name] ?? whole);
    else if (e.valueFrom?.fieldRef?.fieldPath) out[e.name] = fieldValues[e.valueFrom.fieldRef.fieldPath] ?? "";
  }
  return out;
}
/** "96Mi" -> bytes. */
function bytes(quantity: string | undefined): number {
  const match = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|K|M|G)?$/.exec(quantity ?? "");
  if (!match) return NaN;
  const unit = { Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, K: 1e3, M: 1e6, G: 1e9 }[match[2] ?? ""] ?? 1;
  return Number(match[1]) * unit;
}
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
const portOf = (address: string) => parseHostPort(address.replace(/^tcp:\/\//, ""), "listen address", true).port;
const targetPort = (c: Container, target: number | string) => (c.ports ?? []).find(p => (typeof target === "number" ? p.containerPort === target : p.name === target));
/** The file a path names inside a volume mounted (whole directory) from a ConfigMap, and that ConfigMap. */
function configMapFile(r: Rendered, path: string): { volume: Volume; text: string | undefined } {
  const mount = (r.container.volumeMounts ?? []).find(m => m.mountPath === posix.dirname(path));
  if (!mount) throw new Error(`${r.overlay}: nothing mounted at ${posix.dirname(path)}`);
  if (mount.subPath !== undefined) throw new Error(`${r.overlay}: ${mount.mountPath} is a subPath mount (ConfigMap updates would not arrive)`);
  const volume = (r.pod.spec.volumes ?? []).find(v => v.name === mount.name);
  if (!volume?.configMap) throw new Error(`${r.overlay}: ${mount.mountPath} is not a ConfigMap volume`);
  const configMap = r.resources.find(x => x.kind === "ConfigMap" && x.metadata.name === volume.configMap?.name) as ConfigMap | undefined;
  return { volume, text: configMap?.data?.[posix.basename(path)] };
}

for (const [name] of VARIANTS) {
  test(`${name}: no Namespace object; every namespaced resource in ${NAMESPACE}`, t => {
    const r = get(name);
    t.deepEqual(r.all("Namespace"), []);
    for (const x of r.resources) {
      if (x.kind === "ClusterRole" || x.kind === "ClusterRoleBinding") t.is(x.metadata.namespace, undefined, `${x.kind} ${x.metadata.name}`);
      else t.is(x.metadata.namespace, NAMESPACE, `${x.kind} ${x.metadata.name}`);
    }
  });

  test(`${name}: the pod runs as its ServiceAccount, which may get, list and watch nodes (and nothing else)`, t => {
    const r = get(name);
    const account = r.pod.spec.serviceAccountName;
    if (!account) return t.fail("no serviceAccountName");
    t.is(r.find("ServiceAccount", account).metadata.namespace, r.workload.metadata.namespace);
    const bindings = r.all<ClusterRoleBinding>("ClusterRoleBinding").filter(b => b.subjects.some(s => s.kind === "ServiceAccount" && s.name === account && s.namespace === NAMESPACE));
    t.is(bindings.length, 1);
    const role = r.find<ClusterRole>("ClusterRole", bindings[0]!.roleRef.name);
    t.deepEqual(role.rules, [{ apiGroups: [""], resources: ["nodes"], verbs: ["get", "list", "watch"] }]);
    t.is(plainEnv(r.container).PNSMGR_NODE_SOURCE, "kubernetes", "node IPs come from the API the role opens");
  });

  test(`${name}: hardened: seccomp RuntimeDefault, non-root, read-only root, no escalation, no capabilities`, t => {
    const { pod, container } = get(name);
    const podSecurity = pod.spec.securityContext ?? {};
    const security = container.securityContext ?? {};
    t.is((security.seccompProfile ?? podSecurity.seccompProfile)?.type, "RuntimeDefault");
    t.true(security.runAsNonRoot ?? podSecurity.runAsNonRoot);
    t.true((security.runAsUser ?? podSecurity.runAsUser ?? 0) > 0, "a numeric non-root user");
    t.true(security.readOnlyRootFilesystem);
    t.false(security.allowPrivilegeEscalation);
    t.deepEqual(security.capabilities?.drop, ["ALL"]);
    t.is(security.capabilities?.add, undefined);
    t.false((pod.spec.volumes ?? []).some(v => v.hostPath !== undefined), "no hostPath volume");
  });

  test(`${name}: the SPIRE agent socket comes from the SPIFFE CSI driver, where SPIFFE_ENDPOINT_SOCKET points`, t => {
    const { pod, container } = get(name);
    const socket = envOf(container).get("SPIFFE_ENDPOINT_SOCKET")?.value;
    t.is(socket, "unix:///run/spire/sockets/agent.sock");
    const mount = (container.volumeMounts ?? []).find(m => m.mountPath === posix.dirname((socket ?? "").replace(/^unix:\/\//, "")));
    if (!mount) return t.fail("the socket's directory is not mounted");
    t.true(mount.readOnly);
    t.deepEqual((pod.spec.volumes ?? []).find(v => v.name === mount.name)?.csi, { driver: "csi.spiffe.io", readOnly: true });
    t.is(pod.metadata.labels["spiffe.io/spiffe-id"], "true");
  });

  test(`${name}: cpu and memory requests, the memory request above the measured idle RSS`, t => {
    const { container } = get(name);
    t.truthy(container.resources?.requests?.cpu);
    // Measured idle RSS of `node dist/lib/main.js` with the Kubernetes node source and Redis, as
    // deployed (README, Deploying): up to 131 MiB.
    t.true(bytes(container.resources?.requests?.memory) >= 131 * 1024 ** 2, container.resources?.requests?.memory);
    t.true(bytes(container.resources?.limits?.memory) > bytes(container.resources?.requests?.memory));
  });

  test(`${name}: every variable is one pnsmgr knows (or a named other), every plain value loads`, t => {
    const { container } = get(name);
    const known = new Set<string>([...OPTIONS.map(o => o.env), ...Object.keys(STATE_ENV), ...Object.keys(OTHER_ENV)]);
    const seen = new Set<string>();
    for (const e of container.env ?? []) {
      t.true(known.has(e.name), `${e.name} is not an option in lib/config.ts or lib/state/state.ts`);
      t.false(seen.has(e.name), `${e.name} is set twice`);
      seen.add(e.name);
      for (const [, ref] of (e.value ?? "").matchAll(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g)) t.true(seen.has(ref ?? ""), `${e.name} refers to $(${ref}) before it is set`);
    }
    t.notThrows(() => loadConfig(plainEnv(container)));
  });

  test(`${name}: the probes ask grpc.health.v1 on the listener the env configures`, t => {
    const r = get(name);
    const config = loadConfig(plainEnv(r.container));
    const listener = portOf(r.overlay === "v0" ? config.apiAddress : config.v1ListenAddress);
    for (const probe of [r.container.readinessProbe, r.container.livenessProbe]) {
      t.is(probe?.grpc?.port, listener);
      t.truthy(targetPort(r.container, listener), "a declared container port");
    }
  });

  test(`${name}: a PodDisruptionBudget covers the pods`, t => {
    const r = get(name);
    const budgets = r.all<PodDisruptionBudget>("PodDisruptionBudget").filter(b => selects(b.spec.selector, r.pod.metadata.labels));
    t.is(budgets.length, 1);
    t.true(budgets[0]!.spec.maxUnavailable !== undefined || budgets[0]!.spec.minAvailable !== undefined);
    t.true(selects(r.workload.spec.selector, r.pod.metadata.labels), "the workload selects its own pods");
  });
}

test("v0: DaemonSet proxy-nsmgr behind pnsmgr-svc, the seed's names and defaults", t => {
  const r = get("v0");
  t.is(r.workload.kind, "DaemonSet");
  t.is(r.workload.metadata.name, "proxy-nsmgr");
  t.deepEqual(r.workload.spec.selector.matchLabels, { app: "proxy-nsmgr-daemonset" });
  t.is(r.container.image, "pnsmgr:latest");
  const env = envOf(r.container);
  const defaults = new Map<string, string | undefined>(OPTIONS.map(o => [o.env, o.default]));
  for (const name of ["PROXY_NSMD_API_ADDRESS", "PROXY_NSMD_K8S_ADDRESS", "PROXY_NSMD_K8S_REMOTE_PORT", "PROXY_NSMD_ADDRESS"]) t.is(env.get(name)?.value, defaults.get(name), name);
  t.is(env.get("NODE_NAME")?.valueFrom?.fieldRef?.fieldPath, "spec.nodeName");

  const service = r.find<Service>("Service", "pnsmgr-svc");
  t.true(selects({ matchLabels: service.spec.selector }, r.pod.metadata.labels));
  t.deepEqual(service.spec.ports.map(p => p.port).sort(), [5005, 5006]);
  for (const p of service.spec.ports) t.truthy(targetPort(r.container, p.targetPort ?? p.port), `Service port ${p.port}`);
});

test("v0: remote domains reach each node on the ports they dial: registry on PROXY_NSMD_K8S_REMOTE_PORT, connections on 5006", t => {
  const r = get("v0");
  const config = loadConfig(plainEnv(r.container));
  const registry = targetPort(r.container, portOf(config.registryAddress));
  const connections = targetPort(r.container, portOf(config.apiAddress));
  t.is(registry?.hostPort, config.remotePort, "the registry plane on the port remote domains dial");
  t.is(config.remotePort, 80);
  t.is(connections?.hostPort, 5006);
  t.deepEqual((r.container.ports ?? []).map(p => p.containerPort).sort(), [5005, 5006]);
});

test("v0: the node map for PNSMGR_NODE_SOURCE=file is mounted from ConfigMap pnsmgr-node-map and parses", t => {
  const r = get("v0");
  const path = plainEnv(r.container).PNSMGR_NODE_MAP_FILE;
  if (!path) return t.fail("PNSMGR_NODE_MAP_FILE is not set");
  const { volume, text } = configMapFile(r, path);
  t.is(volume.configMap?.name, "pnsmgr-node-map");
  if (text === undefined) return t.fail("no node map in the ConfigMap");
  t.true(parseNodeMap(text).length > 0);
});

test("v1: Deployment nsmgr-proxy with the v1 listener behind LoadBalancer nsmgr-proxy, as deployments-k8s names them", t => {
  const r = get("v1");
  t.is(r.workload.kind, "Deployment");
  t.is(r.workload.metadata.name, "nsmgr-proxy");
  const config = loadConfig(plainEnv(r.container));
  const listener = portOf(config.v1ListenAddress);
  t.is(listener, 5004);
  t.is(targetPort(r.container, listener)?.hostPort, 5004, "on the node too, as NSM's nsmgr-proxy");
  const service = r.find<Service>("Service", "nsmgr-proxy");
  t.is(service.spec.type, "LoadBalancer");
  t.true(selects({ matchLabels: service.spec.selector }, r.pod.metadata.labels));
  t.deepEqual(service.spec.ports.map(p => p.port), [5004]);
  t.is(targetPort(r.container, service.spec.ports[0]?.targetPort ?? 5004)?.containerPort, 5004);
  t.is(r.all<Service>("Service").length, 1);
});

test("v1: NSM_NAME, NSM_REGISTRY_URL to the local registry, a public URL other domains can reach", t => {
  const r = get("v1");
  const env = plainEnv(r.container);
  const config = loadConfig(env);
  t.is(config.name, "nsmgr-proxy");
  t.is(config.registryUrl, "tcp://registry:5002", "deployments-k8s' registry-k8s Service");
  t.is(config.v1PublicUrl, "tcp://10.244.1.7:5004", "the pod IP (mapped to the node's external IP) and the listener's port");
});

test("v1: the IP map (ConfigMap map-ip) and NSM's cluster-info are mounted where the env points, cluster-info never created", t => {
  const r = get("v1");
  const config = loadConfig(plainEnv(r.container));
  const mapIp = configMapFile(r, config.mapIpFile);
  t.is(mapIp.volume.configMap?.name, "map-ip");
  if (mapIp.text === undefined) return t.fail("no map in ConfigMap map-ip");
  t.notThrows(() => parseIpMap(mapIp.text ?? ""));
  const clusterInfo = configMapFile(r, config.clusterInfoFile);
  t.deepEqual(clusterInfo.volume.configMap, { name: "cluster-info", optional: true });
  t.is(r.resources.find(x => x.kind === "ConfigMap" && x.metadata.name === "cluster-info"), undefined, "NSM's ConfigMap is not ours to create or delete");
});

test("the image's EXPOSE covers every container port", async t => {
  const { readFileSync } = await import("node:fs");
  const { join } = await import("node:path");
  const { ROOT } = await import("../support/root.js");
  const exposed = new Set(
    readFileSync(join(ROOT, "Dockerfile"), "utf8")
      .split("\n")
      .filter(l => /^EXPOSE\s/.test(l))
      .flatMap(l => l.split(/\s+/).slice(1).map(Number)),
  );
  for (const name of ["v0", "v1"]) for (const p of get(name).container.ports ?? []) t.true(exposed.has(p.containerPort), `${name}: ${p.containerPort}`);
});

// ---- Redis with Sentinel (components/redis-sentinel) ----

for (const name of ["v0 + redis-sentinel", "v1 + redis-sentinel"]) {
  const parts = () => {
    const r = get(name);
    const redisSet = r.find<Workload>("StatefulSet", "redis");
    const sentinelSet = r.find<Workload>("StatefulSet", "redis-sentinel");
    const only = (set: Workload) => set.spec.template.spec.containers[0]!;
    const script = (set: Workload) => {
      const c = only(set);
      const path = [...(c.command ?? []), ...(c.args ?? [])].find(a => a.endsWith(".sh"));
      const mount = (c.volumeMounts ?? []).find(m => posix.dirname(path ?? "") === m.mountPath);
      const volume = set.spec.template.spec.volumes?.find(v => v.name === mount?.name);
      const data = r.find<ConfigMap>("ConfigMap", volume?.configMap?.name ?? "").data ?? {};
      return { text: data[posix.basename(path ?? "")] ?? "", data };
    };
    const serviceByDnsName = (host: string) => {
      const [svc, namespace, ...rest] = host.split(".");
      if (!["", "svc", "svc.cluster.local"].includes(rest.join("."))) return undefined;
      return r.resources.find(x => x.kind === "Service" && x.metadata.name === svc && x.metadata.namespace === namespace) as Service | undefined;
    };
    return { r, redisSet, sentinelSet, only, script, serviceByDnsName };
  };

  test(`${name}: pnsmgr finds the master through Service redis-sentinel, waits for one replica`, t => {
    const { r, sentinelSet, only, serviceByDnsName } = parts();
    const options = stateOptionsFromEnv(plainEnv(r.container));
    if (options.kind !== "redis" || !options.sentinels) return t.fail(`state is ${options.kind}, not redis with sentinels`);
    t.is(options.masterName, "mymaster");
    t.is(options.waitReplicas, 1);
    for (const { host, port } of options.sentinels) {
      const svc = serviceByDnsName(host);
      if (!svc) return t.fail(`${host} is not a rendered Service`);
      t.true(selects({ matchLabels: svc.spec.selector }, sentinelSet.spec.template.metadata.labels));
      const svcPort = svc.spec.ports.find(p => p.port === port);
      t.is(targetPort(only(sentinelSet), svcPort?.targetPort ?? port)?.containerPort, 26379);
    }
    if (r.workload.kind === "Deployment") t.is(r.workload.spec.replicas, 2, "v1 runs two replicas on shared state");
  });

  test(`${name}: credentials from Secret ${SECRET} on both sides: pnsmgr's env, Redis's requirepass, the Sentinels'`, t => {
    const { r, redisSet, sentinelSet, only, script } = parts();
    const env = envOf(r.container);
    t.deepEqual(env.get("PNSMGR_REDIS_PASSWORD")?.valueFrom?.secretKeyRef, { name: SECRET, key: "password" });
    t.deepEqual(env.get("PNSMGR_REDIS_SENTINEL_PASSWORD")?.valueFrom?.secretKeyRef, { name: SECRET, key: "sentinel-password" });
    for (const set of [redisSet, sentinelSet]) {
      const e = envOf(only(set));
      t.deepEqual(e.get("REDIS_PASSWORD")?.valueFrom?.secretKeyRef, { name: SECRET, key: "password" }, set.metadata.name);
      t.deepEqual(e.get("SENTINEL_PASSWORD")?.valueFrom?.secretKeyRef, { name: SECRET, key: "sentinel-password" }, set.metadata.name);
      t.is(e.get("REDISCLI_AUTH")?.valueFrom?.secretKeyRef?.name, SECRET, `${set.metadata.name}: probes authenticate`);
    }
    t.regex(script(redisSet).text, /--requirepass "\$REDIS_PASSWORD" --masterauth "\$REDIS_PASSWORD"/);
    const sentinel = script(sentinelSet).text;
    t.regex(sentinel, /requirepass \$SENTINEL_PASSWORD/);
    t.regex(sentinel, /sentinel auth-pass \$master_name \$REDIS_PASSWORD/);
    t.regex(sentinel, /sentinel sentinel-pass \$SENTINEL_PASSWORD/);
    t.deepEqual(r.all("Secret"), [], "no password is ever in the manifests");
  });

  test(`${name}: Sentinel monitors redis-0 with a majority quorum; redis:7, no persistence, hardened`, t => {
    const { r, redisSet, sentinelSet, only, script, serviceByDnsName } = parts();
    const conf = script(sentinelSet).data["sentinel.conf"] ?? "";
    const monitor = /^sentinel monitor (\S+) (\S+) (\d+) (\d+)$/m.exec(conf);
    if (!monitor) return t.fail("no sentinel monitor line");
    const [, master, host, port, quorum] = monitor;
    t.is(master, "mymaster");
    const [podName, ...rest] = (host ?? "").split(".");
    t.is(podName, "redis-0");
    t.is(serviceByDnsName(rest.join("."))?.metadata.name, redisSet.spec.serviceName);
    t.is(Number(port), 6379);
    const sentinels = sentinelSet.spec.replicas ?? 1;
    t.true(Number(quorum) > sentinels / 2 && Number(quorum) <= sentinels);
    for (const set of [redisSet, sentinelSet]) {
      const c = only(set);
      t.is(c.image, "redis:7");
      t.is(set.spec.volumeClaimTemplates, undefined);
      const svc = r.find<Service>("Service", set.spec.serviceName ?? "");
      t.is(svc.spec.clusterIP, "None");
      t.true(selects({ matchLabels: svc.spec.selector }, set.spec.template.metadata.labels));
      const security = set.spec.template.spec.securityContext;
      t.true(security?.runAsNonRoot === true && (security.runAsUser ?? 0) > 0);
      t.is(security?.seccompProfile?.type, "RuntimeDefault");
      t.true(c.securityContext?.readOnlyRootFilesystem);
      t.false(c.securityContext?.allowPrivilegeEscalation);
      const budgets = r.all<PodDisruptionBudget>("PodDisruptionBudget").filter(b => selects(b.spec.selector, set.spec.template.metadata.labels));
      t.is(budgets.length, 1, `${set.metadata.name} PodDisruptionBudget`);
    }
    t.regex(script(redisSet).text, /--save "" --appendonly no/);
    t.regex(script(redisSet).text, /--maxmemory-policy noeviction/);
  });

  test(`${name}: the NetworkPolicy admits pnsmgr's pods and the Redis pods, and no others`, t => {
    const { r, redisSet, sentinelSet } = parts();
    const policy = r.find<NetworkPolicy>("NetworkPolicy", "redis");
    for (const set of [redisSet, sentinelSet]) t.true(selects(policy.spec.podSelector, set.spec.template.metadata.labels));
    const rules = policy.spec.ingress ?? [];
    const allowed = (labels: Record<string, string>, port: number) =>
      rules.some(rule => (rule.from ?? []).some(f => f.podSelector && selects(f.podSelector, labels)) && (rule.ports ?? []).some(p => p.port === port));
    for (const port of [6379, 26379]) {
      for (const labels of [r.pod.metadata.labels, redisSet.spec.template.metadata.labels, sentinelSet.spec.template.metadata.labels]) t.true(allowed(labels, port), `${JSON.stringify(labels)} -> ${port}`);
      t.false(allowed({ app: "something-else" }, port));
    }
  });
}
