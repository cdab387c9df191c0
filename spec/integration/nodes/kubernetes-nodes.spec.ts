/**
 * The Kubernetes node source (@kubernetes/client-node list + watch) against a list/watch server
 * speaking the API's wire format (spec/support/fake-kube-api.ts; no kube-apiserver runs here, see
 * kube-apiserver.spec.ts for the real one when it is built): the first list fills the v0 node map
 * and the v1 IP map, watch events change both, an ended watch resumes from its resourceVersion, a
 * 410 relists, an unreachable API keeps the last maps and is retried; and the gateway, configured
 * with PNSMGR_NODE_SOURCE=kubernetes, answers ClusterInfo from it.
 */
import test from "ava";
import { KubeConfig } from "@kubernetes/client-node";
import { createIpMap } from "../../../lib/nodes/ip-map.js";
import { createNodeMap } from "../../../lib/nodes/node-map.js";
import { type KubernetesNodes, watchKubernetesNodes } from "../../../lib/nodes/kubernetes-nodes.js";
import { ClusterInfoService, NodeIPConfiguration } from "../../../generated/seed/clusterinfo.js";
import { type FakeKubeApi, startFakeKubeApi } from "../../support/fake-kube-api.js";
import { callUnary, closeAll } from "../../support/grpc.js";
import { waitFor } from "../../support/wait.js";
import { startTestGateway, stopGateways } from "../../support/gateway.js";

const apis = new Set<FakeKubeApi>();
const sources = new Set<KubernetesNodes>();

async function api(): Promise<FakeKubeApi> {
  const started = await startFakeKubeApi();
  apis.add(started);
  return started;
}

function watch(server: FakeKubeApi, pod?: { nodeName: string; ip: string }) {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(server.kubeconfigPath);
  const nodes = createNodeMap();
  const ipMap = createIpMap();
  const reports: string[] = [];
  const source = watchKubernetesNodes({ kubeConfig, nodes, ipMap, pod, report: m => reports.push(m), retryMs: 50 });
  sources.add(source);
  return { nodes, ipMap, reports, source };
}

test.afterEach.always(async () => {
  await Promise.all([...sources].map(s => s.close()));
  sources.clear();
  await closeAll();
  await stopGateways();
  await Promise.all([...apis].map(a => a.close()));
  apis.clear();
});

const ext = (n: ReturnType<typeof createNodeMap>, name: string) => n.byName(name)?.externalIP;

test.serial("the first list fills both maps, with the bearer token of the kubeconfig", async t => {
  const server = await api();
  server.setNode("node-1", [{ type: "InternalIP", address: "10.0.0.1" }, { type: "ExternalIP", address: "203.0.113.1" }]);
  server.setNode("node-2", [{ type: "Hostname", address: "node-2" }, { type: "InternalIP", address: "10.0.0.2" }]);
  const { nodes, ipMap, source } = watch(server, { nodeName: "node-1", ip: "10.244.1.5" });
  await waitFor(() => source.isSynced(), 10_000, "the first list");
  t.deepEqual(nodes.nodes(), [
    { name: "node-1", internalIP: "10.0.0.1", externalIP: "203.0.113.1" },
    { name: "node-2", internalIP: "10.0.0.2", externalIP: "" },
  ]);
  t.is(nodes.externalOf("10.0.0.1"), "203.0.113.1");
  t.is(ipMap.get("10.0.0.1"), "203.0.113.1");
  t.is(ipMap.get("10.0.0.2"), "10.0.0.2");
  t.is(ipMap.get("10.244.1.5"), "203.0.113.1", "this pod's IP -> its node's external IP");
  t.is(ipMap.size(), 3);
  await waitFor(() => server.openWatches() === 1, 5000, "a watch");
  for (const r of server.requests) t.is(r.authorization, `Bearer ${server.token}`);
  t.true(server.requests.some(r => !r.watch) && server.requests.some(r => r.watch && r.path.includes("resourceVersion=")));
});

test.serial("watch events add, change and delete nodes in both maps", async t => {
  const server = await api();
  server.setNode("node-1", [{ type: "InternalIP", address: "10.0.0.1" }, { type: "ExternalIP", address: "203.0.113.1" }]);
  const { nodes, ipMap, source } = watch(server);
  await waitFor(() => source.isSynced(), 10_000, "the first list");
  await waitFor(() => server.openWatches() === 1, 5000, "a watch");

  server.setNode("node-2", [{ type: "InternalIP", address: "10.0.0.2" }, { type: "ExternalIP", address: "203.0.113.2" }]);
  await waitFor(() => ipMap.get("10.0.0.2") === "203.0.113.2", 5000, "node-2 added");
  t.is(ext(nodes, "node-2"), "203.0.113.2");

  server.setNode("node-1", [{ type: "InternalIP", address: "10.0.0.1" }, { type: "ExternalIP", address: "198.51.100.1" }]);
  await waitFor(() => ipMap.get("10.0.0.1") === "198.51.100.1", 5000, "node-1 changed");
  t.is(ext(nodes, "node-1"), "198.51.100.1");
  t.is(nodes.byIP("203.0.113.1"), undefined, "the old external IP is gone");

  server.deleteNode("node-2");
  await waitFor(() => ipMap.get("10.0.0.2") === undefined, 5000, "node-2 deleted");
  t.is(nodes.byName("node-2"), undefined);
  t.deepEqual(nodes.nodes().map(n => n.name), ["node-1"]);
});

test.serial("an ended watch resumes from its resourceVersion; a 410 relists", async t => {
  const server = await api();
  server.setNode("node-1", [{ type: "InternalIP", address: "10.0.0.1" }]);
  const { ipMap, source } = watch(server);
  await waitFor(() => source.isSynced(), 10_000, "the first list");
  await waitFor(() => server.openWatches() === 1, 5000, "a watch");
  const lists = () => server.requests.filter(r => !r.watch).length;
  t.is(lists(), 1);

  server.endWatches();
  server.setNode("node-2", [{ type: "InternalIP", address: "10.0.0.2" }]);
  await waitFor(() => ipMap.get("10.0.0.2") === "10.0.0.2", 5000, "node-2 after the watch ended");
  t.is(lists(), 1, "resumed by watch, not by a new list");

  // History gone and a change missed while no watch was open: the resumed watch gets 410, relists.
  server.refuse(true);
  server.deleteNode("node-1");
  server.compact();
  server.refuse(false);
  await waitFor(() => ipMap.get("10.0.0.1") === undefined, 10_000, "node-1 gone after the relist");
  t.true(lists() >= 2);
  t.is(ipMap.get("10.0.0.2"), "10.0.0.2");
});

test.serial("an unreachable API keeps the last maps, reports, and is retried until it answers", async t => {
  const server = await api();
  server.refuse(true);
  const { nodes, ipMap, reports, source } = watch(server);
  await waitFor(() => reports.length >= 2, 5000, "reports of failed lists");
  t.false(source.isSynced());
  t.regex(reports[0] ?? "", /Kubernetes nodes: .*503.*keeping 0 nodes, trying again in 50 ms/);

  server.setNode("node-1", [{ type: "InternalIP", address: "10.0.0.1" }, { type: "ExternalIP", address: "203.0.113.1" }]);
  server.refuse(false);
  await waitFor(() => source.isSynced(), 10_000, "the first list");
  t.is(ipMap.get("10.0.0.1"), "203.0.113.1");

  // Down again after the sync: what was known stays.
  server.refuse(true);
  const before = reports.length;
  await waitFor(() => reports.length > before, 5000, "a report after the API went away");
  t.is(nodes.byName("node-1")?.externalIP, "203.0.113.1");
  t.is(ipMap.get("10.0.0.1"), "203.0.113.1");
  t.regex(reports.at(-1) ?? "", /keeping 1 nodes/);
});

test.serial("the gateway with PNSMGR_NODE_SOURCE=kubernetes answers ClusterInfo from the API's nodes", async t => {
  const server = await api();
  server.setNode("node-1", [{ type: "InternalIP", address: "10.0.0.1" }, { type: "ExternalIP", address: "203.0.113.1" }]);
  const previous = process.env.KUBECONFIG;
  process.env.KUBECONFIG = server.kubeconfigPath;
  try {
    const gateway = await startTestGateway({ nodeSource: "kubernetes" });
    const query = NodeIPConfiguration.fromPartial({ internalIP: "10.0.0.1" });
    t.deepEqual(await callUnary(gateway.registryAddress, ClusterInfoService.getNodeIpConfiguration, query), {
      nodeName: "node-1",
      internalIP: "10.0.0.1",
      externalIP: "203.0.113.1",
    });
    t.is(gateway.ipMap.get("10.0.0.1"), "203.0.113.1");
    server.setNode("node-2", [{ type: "InternalIP", address: "10.0.0.2" }, { type: "ExternalIP", address: "203.0.113.2" }]);
    await waitFor(() => gateway.nodes.byName("node-2") !== undefined, 5000, "node-2 in the gateway");
    const second = await callUnary(gateway.apiAddress, ClusterInfoService.getNodeIpConfiguration, NodeIPConfiguration.fromPartial({ nodeName: "node-2" }));
    t.is(second.externalIP, "203.0.113.2");
  } finally {
    if (previous === undefined) delete process.env.KUBECONFIG;
    else process.env.KUBECONFIG = previous;
  }
});
