/**
 * Where the node IP map (v0 ClusterInfo) and the IP map (v1 swapip) come from, as PNSMGR_NODE_SOURCE
 * says: `file` (the watched PNSMGR_NODE_MAP_FILE and NSM_MAP_IP_FILE_PATH, for clusters without API
 * access) or `kubernetes` (a Node informer feeding both; kubeconfig from KUBECONFIG, ~/.kube/config or
 * the pod's service account). The gateway starts and closes them through this one place.
 */
import { type IpMap, watchIpMapFile } from "./ip-map.js";
import type { NodeMap } from "./node-map.js";
import { watchNodeMapFile } from "./node-map-file.js";

export type NodeSource = "file" | "kubernetes";

export const NODE_SOURCES: readonly NodeSource[] = ["file", "kubernetes"];

export interface NodeSourcesConfig {
  readonly nodeSource: NodeSource;
  readonly nodeMapFile: string | undefined;
  readonly mapIpFile: string;
  readonly nodeName: string | undefined;
}

export interface NodeSourcesOptions {
  readonly warn: (message: string) => void;
  readonly info: (message: string, fields?: Record<string, unknown>) => void;
  /** How long start waits for the first node list before serving without it. Default 5 s. */
  readonly syncWaitMs?: number;
}

export interface NodeSources {
  close(): Promise<void>;
}

export async function startNodeSources(config: NodeSourcesConfig, nodes: NodeMap, ipMap: IpMap, options: NodeSourcesOptions): Promise<NodeSources> {
  if (config.nodeSource === "file") {
    const nodeWatch = config.nodeMapFile ? watchNodeMapFile(config.nodeMapFile, nodes, options.warn) : undefined;
    const ipWatch = watchIpMapFile(config.mapIpFile, ipMap, options.warn);
    return {
      async close() {
        nodeWatch?.close();
        ipWatch.close();
      },
    };
  }
  // Loaded only here: @kubernetes/client-node adds about 65 MiB of RSS, which the file source does not need.
  const { KubeConfig } = await import("@kubernetes/client-node");
  const { localPodIP, watchKubernetesNodes } = await import("./kubernetes-nodes.js");
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromDefault();
  const ip = localPodIP();
  const pod = config.nodeName && ip ? { nodeName: config.nodeName, ip } : undefined;
  const source = watchKubernetesNodes({ kubeConfig, nodes, ipMap, pod, report: options.warn });
  const waitMs = options.syncWaitMs ?? 5000;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([source.synced, new Promise<void>(resolve => (timer = setTimeout(resolve, waitMs)))]);
  clearTimeout(timer);
  const server = kubeConfig.getCurrentCluster()?.server ?? "(no cluster)";
  if (source.isSynced()) options.info("node IPs from the Kubernetes API", { server, nodes: nodes.nodes().length });
  else options.warn(`node IPs: no node list from the Kubernetes API at ${server} within ${waitMs} ms; serving without, still trying`);
  return { close: () => source.close() };
}
