/**
 * Node IPs from the Kubernetes API, what the seed's proxy-nsmd-k8s listed on every call and NSM's
 * cmd-map-ip-k8s sidecar writes into map-ip.yaml: an informer (list, then watch) on Nodes keeps one
 * snapshot of every node's InternalIP and ExternalIP, and each change replaces both the v0 node map
 * (ClusterInfo, seed swap-ip) and the v1 IP map (swapip) at once. When the API server is unreachable
 * the last maps are kept and the informer is started again with a growing delay.
 */
import { CoreV1Api, type KubeConfig, ListWatch, type V1Node, Watch } from "@kubernetes/client-node";
import { isIP } from "node:net";
import { networkInterfaces } from "node:os";
import type { IpMap } from "./ip-map.js";
import type { NodeInfo, NodeMap } from "./node-map.js";

/** A node's name and its first InternalIP and ExternalIP ("" when it has none); undefined without either. */
export function nodeInfoOf(node: V1Node): NodeInfo | undefined {
  const name = node.metadata?.name ?? "";
  const addresses = node.status?.addresses ?? [];
  const first = (type: string) => addresses.find(a => a.type === type && isIP(a.address) !== 0)?.address ?? "";
  const internalIP = first("InternalIP");
  const externalIP = first("ExternalIP");
  if (name === "" || (internalIP === "" && externalIP === "")) return undefined;
  return { name, internalIP, externalIP };
}

/** This pod: the node it runs on and its own IP, whose mapping cmd-map-ip-k8s adds too. */
export interface ThisPod {
  readonly nodeName: string;
  readonly ip: string;
}

/**
 * The map-ip.yaml content cmd-map-ip-k8s writes for these nodes: InternalIP -> ExternalIP per node
 * (a node with only one of them maps it to itself), and this pod's IP -> its node's external IP.
 */
export function ipMapOf(nodes: readonly NodeInfo[], pod?: ThisPod): Map<string, string> {
  const map = new Map<string, string>();
  for (const n of nodes) {
    const internal = n.internalIP || n.externalIP;
    map.set(internal, n.externalIP || internal);
  }
  const own = pod && nodes.find(n => n.name === pod.nodeName);
  if (pod && own) map.set(pod.ip, own.externalIP || own.internalIP);
  return map;
}

/**
 * This pod's IP as cmd-map-ip-k8s finds it: the first address of a non-loopback interface (IPv6
 * link-local addresses skipped); undefined when there is none.
 */
export function localPodIP(): string | undefined {
  for (const addresses of Object.values(networkInterfaces())) {
    for (const a of addresses ?? []) {
      if (a.internal || (a.family === "IPv6" && a.address.toLowerCase().startsWith("fe80:"))) continue;
      return a.address;
    }
  }
  return undefined;
}

export interface KubernetesNodesOptions {
  readonly kubeConfig: KubeConfig;
  readonly nodes: NodeMap;
  readonly ipMap: IpMap;
  /** This pod (NODE_NAME and its IP), for the pod IP entry of the IP map. */
  readonly pod?: ThisPod;
  /** Problems (API unreachable, watch ended with an error), never thrown. */
  readonly report: (message: string) => void;
  /** First wait before starting again after an error; doubles up to 30 s. Default 1 s. */
  readonly retryMs?: number;
}

export interface KubernetesNodes {
  /** Settles once the first list has been applied to both maps. */
  readonly synced: Promise<void>;
  isSynced(): boolean;
  close(): Promise<void>;
}

const MAX_RETRY_MS = 30_000;

export function watchKubernetesNodes(options: KubernetesNodesOptions): KubernetesNodes {
  const { kubeConfig, nodes, ipMap, pod, report } = options;
  const firstRetryMs = options.retryMs ?? 1000;
  const api = kubeConfig.makeApiClient(CoreV1Api);
  // makeInformer's ListWatch, kept as one so that its cache (list()) is typed; started below.
  const informer = new ListWatch<V1Node>("/api/v1/nodes", new Watch(kubeConfig), () => listed(api.listNode()), false);
  let closed = false;
  let synced = false;
  let markSynced: () => void = () => {};
  const syncedPromise = new Promise<void>(resolve => (markSynced = resolve));
  let retryMs = firstRetryMs;
  let retryTimer: NodeJS.Timeout | undefined;
  let rebuildQueued = false;

  const rebuild = () => {
    rebuildQueued = false;
    if (closed) return;
    const infos = informer.list().flatMap(n => nodeInfoOf(n) ?? []);
    nodes.replace(infos);
    ipMap.replace(ipMapOf(infos, pod));
  };
  // The initial list fires one event per node: rebuild once per turn, not once per event.
  informer.on("change", () => {
    if (rebuildQueued) return;
    rebuildQueued = true;
    queueMicrotask(rebuild);
  });
  // A list has been applied to the informer's cache once the turn that received it is over.
  const listed = async <T>(list: Promise<T>): Promise<T> => {
    const result = await list;
    setImmediate(() => {
      if (closed) return;
      retryMs = firstRetryMs;
      rebuild();
      if (!synced) {
        synced = true;
        markSynced();
      }
    });
    return result;
  };
  const onError = (error: unknown) => {
    if (closed) return;
    report(`Kubernetes nodes: ${describe(error)}; keeping ${nodes.nodes().length} nodes, trying again in ${retryMs} ms`);
    clearTimeout(retryTimer);
    retryTimer = setTimeout(start, retryMs);
    retryMs = Math.min(retryMs * 2, MAX_RETRY_MS);
  };
  informer.on("error", onError);

  const start = () => {
    if (closed) return;
    informer.start().catch((error: unknown) => onError(error));
  };
  start();

  return {
    synced: syncedPromise,
    isSynced: () => synced,
    async close() {
      closed = true;
      clearTimeout(retryTimer);
      await informer.stop();
    },
  };
}

/** One line: the HTTP status and the API's Status reason/message, or the error's first line. */
function describe(error: unknown): string {
  const { code, statusCode, body, message } = (error ?? {}) as { code?: unknown; statusCode?: unknown; body?: unknown; message?: unknown };
  const status = typeof code === "number" ? code : typeof statusCode === "number" ? statusCode : undefined;
  let detail = typeof message === "string" ? (message.split("\n")[0] ?? "") : String(error);
  if (status !== undefined && body !== undefined) {
    let parsed: unknown = body;
    try {
      if (typeof body === "string") parsed = JSON.parse(body);
    } catch {
      parsed = undefined;
    }
    const api = (parsed ?? {}) as { message?: unknown; reason?: unknown };
    detail = [api.reason, api.message].filter(v => typeof v === "string" && v !== "").join(": ") || detail;
  }
  return status === undefined ? detail : `HTTP ${status} ${detail}`;
}
