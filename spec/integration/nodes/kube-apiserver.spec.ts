/**
 * The Kubernetes node source and the manifests' RBAC against a real kube-apiserver (v1.34.4, with
 * etcd, RBAC on; spec/support/kube-apiserver.ts): as pnsmgr's ServiceAccount the watcher is refused
 * until the ClusterRole and ClusterRoleBinding rendered from manifests/overlays/v1 are applied, then
 * lists and watches Nodes into both maps; node status changes, deletions and new nodes arrive; the
 * gateway answers ClusterInfo from them. Skipped, with the reason in the title, when kube-apiserver
 * has not been built (bash scripts/ensure-kube-apiserver.sh; .ci/run does it).
 */
import test from "ava";
import { CoreV1Api, KubeConfig, RbacAuthorizationV1Api, type V1ClusterRole, type V1ClusterRoleBinding, type V1Node } from "@kubernetes/client-node";
import { createIpMap } from "../../../lib/nodes/ip-map.js";
import { createNodeMap } from "../../../lib/nodes/node-map.js";
import { type KubernetesNodes, watchKubernetesNodes } from "../../../lib/nodes/kubernetes-nodes.js";
import { ClusterInfoService, NodeIPConfiguration } from "../../../generated/seed/clusterinfo.js";
import { type KubeApiserver, found, startKubeApiserver } from "../../support/kube-apiserver.js";
import { renderOverlay } from "../../support/kustomize.js";
import { callUnary, closeAll } from "../../support/grpc.js";
import { waitFor } from "../../support/wait.js";
import { startTestGateway, stopGateways } from "../../support/gateway.js";

const binaries = found();
const serial = "missing" in binaries ? test.serial.skip : test.serial;
const why = "missing" in binaries ? ` (skipped: ${binaries.missing})` : "";
if ("missing" in binaries) console.log(`kube-apiserver.spec.ts skipped: ${binaries.missing}`);

let apiserver: KubeApiserver | undefined;
const sources = new Set<KubernetesNodes>();

test.before(async () => {
  if ("missing" in binaries) return;
  // The ServiceAccount the manifests run pnsmgr as.
  const account = renderOverlay("v1").find(r => r.kind === "ServiceAccount");
  if (!account?.metadata.namespace) throw new Error("no ServiceAccount in the v1 overlay");
  apiserver = await startKubeApiserver({ namespace: account.metadata.namespace, name: account.metadata.name });
});
test.after.always(async () => {
  await Promise.all([...sources].map(s => s.close()));
  await closeAll();
  await stopGateways();
  await apiserver?.stop();
});

const node = (name: string, internal: string, external?: string): V1Node => ({
  apiVersion: "v1",
  kind: "Node",
  metadata: { name },
  status: { addresses: [{ type: "InternalIP", address: internal }, ...(external ? [{ type: "ExternalIP", address: external }] : []), { type: "Hostname", address: name }] },
});

serial(`as pnsmgr's ServiceAccount: refused without the manifests' RBAC, then lists and watches Nodes into both maps${why}`, async t => {
  t.timeout(90_000);
  const api = apiserver!;
  const core = api.admin.makeApiClient(CoreV1Api);
  await core.createNode({ body: node("node-1", "10.0.0.1", "203.0.113.1") });
  await core.createNode({ body: node("node-2", "10.0.0.2") });

  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(api.serviceAccountKubeconfig);
  const nodes = createNodeMap();
  const ipMap = createIpMap();
  const reports: string[] = [];
  const source = watchKubernetesNodes({ kubeConfig, nodes, ipMap, pod: { nodeName: "node-1", ip: "10.244.1.5" }, report: m => reports.push(m), retryMs: 200 });
  sources.add(source);
  await waitFor(() => reports.length > 0, 10_000, "a refusal");
  t.regex(reports[0] ?? "", /HTTP 403 Forbidden: nodes is forbidden: User "system:serviceaccount:nsm-system:pnsmgr" cannot list resource "nodes"/);
  t.false(source.isSynced());

  // The RBAC exactly as `kubectl apply -k manifests/overlays/v1` creates it.
  const rbac = api.admin.makeApiClient(RbacAuthorizationV1Api);
  const rendered = renderOverlay("v1");
  const roles = rendered.filter(r => r.kind === "ClusterRole") as unknown as V1ClusterRole[];
  const bindings = rendered.filter(r => r.kind === "ClusterRoleBinding") as unknown as V1ClusterRoleBinding[];
  t.is(roles.length, 1);
  t.is(bindings.length, 1);
  for (const body of roles) await rbac.createClusterRole({ body });
  for (const body of bindings) await rbac.createClusterRoleBinding({ body });

  await waitFor(() => source.isSynced(), 30_000, "the first list after RBAC");
  t.deepEqual(
    nodes.nodes().map(n => ({ ...n })),
    [
      { name: "node-1", internalIP: "10.0.0.1", externalIP: "203.0.113.1" },
      { name: "node-2", internalIP: "10.0.0.2", externalIP: "" },
    ],
  );
  t.deepEqual(Object.fromEntries([["10.0.0.1", ipMap.get("10.0.0.1")], ["10.0.0.2", ipMap.get("10.0.0.2")], ["10.244.1.5", ipMap.get("10.244.1.5")]]), {
    "10.0.0.1": "203.0.113.1",
    "10.0.0.2": "10.0.0.2",
    "10.244.1.5": "203.0.113.1",
  });

  // Status updates (as a kubelet or cloud controller writes them), deletions and new nodes.
  const current = await core.readNodeStatus({ name: "node-2" });
  current.status = node("node-2", "10.0.0.2", "198.51.100.2").status;
  await core.replaceNodeStatus({ name: "node-2", body: current });
  await waitFor(() => ipMap.get("10.0.0.2") === "198.51.100.2", 10_000, "node-2's new external IP");
  t.is(nodes.byName("node-2")?.externalIP, "198.51.100.2");

  await core.deleteNode({ name: "node-1" });
  await waitFor(() => nodes.byName("node-1") === undefined, 10_000, "node-1 deleted");
  t.is(ipMap.get("10.0.0.1"), undefined);
  t.is(ipMap.get("10.244.1.5"), undefined, "this pod's node is gone, and with it the pod entry");

  await core.createNode({ body: node("node-3", "10.0.0.3", "203.0.113.3") });
  await waitFor(() => ipMap.get("10.0.0.3") === "203.0.113.3", 10_000, "node-3 added");
  t.deepEqual(nodes.nodes().map(n => n.name).sort(), ["node-2", "node-3"]);
});

serial(`the gateway with PNSMGR_NODE_SOURCE=kubernetes answers ClusterInfo from the API server's nodes${why}`, async t => {
  t.timeout(60_000);
  const api = apiserver!;
  await api.admin.makeApiClient(CoreV1Api).createNode({ body: node("node-4", "10.0.0.4", "203.0.113.4") });
  const previous = process.env.KUBECONFIG;
  process.env.KUBECONFIG = api.serviceAccountKubeconfig;
  try {
    const gateway = await startTestGateway({ nodeSource: "kubernetes" });
    await waitFor(() => gateway.nodes.byName("node-4") !== undefined, 20_000, "node-4 in the gateway");
    const answer = await callUnary(gateway.registryAddress, ClusterInfoService.getNodeIpConfiguration, NodeIPConfiguration.fromPartial({ nodeName: "node-4" }));
    t.deepEqual(answer, { nodeName: "node-4", internalIP: "10.0.0.4", externalIP: "203.0.113.4" });
    t.is(gateway.ipMap.get("10.0.0.4"), "203.0.113.4");
  } finally {
    if (previous === undefined) delete process.env.KUBECONFIG;
    else process.env.KUBECONFIG = previous;
  }
});
