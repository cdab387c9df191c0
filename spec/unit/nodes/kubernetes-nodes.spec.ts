/**
 * What the Kubernetes node source makes of Node objects: each node's first InternalIP and ExternalIP
 * (the seed's node map) and the map-ip.yaml content cmd-map-ip-k8s writes (InternalIP -> ExternalIP,
 * a lone address to itself, this pod's IP -> its node's external IP).
 */
import test from "ava";
import type { V1Node } from "@kubernetes/client-node";
import { ipMapOf, nodeInfoOf } from "../../../lib/nodes/kubernetes-nodes.js";

const node = (name: string, addresses: [string, string][]): V1Node => ({ metadata: { name }, status: { addresses: addresses.map(([type, address]) => ({ type, address })) } });

test("a node's first InternalIP and ExternalIP, host names and non-IPs ignored", t => {
  t.deepEqual(
    nodeInfoOf(node("n1", [["Hostname", "n1.example"], ["InternalIP", "10.0.0.1"], ["InternalIP", "10.0.0.9"], ["ExternalIP", "203.0.113.1"]])),
    { name: "n1", internalIP: "10.0.0.1", externalIP: "203.0.113.1" },
  );
  t.deepEqual(nodeInfoOf(node("n2", [["InternalIP", "fd00::2"]])), { name: "n2", internalIP: "fd00::2", externalIP: "" });
  t.deepEqual(nodeInfoOf(node("n3", [["ExternalIP", "not-an-ip"], ["ExternalIP", "198.51.100.3"]])), { name: "n3", internalIP: "", externalIP: "198.51.100.3" });
  t.is(nodeInfoOf(node("n4", [["Hostname", "n4"]])), undefined);
  t.is(nodeInfoOf({ status: { addresses: [{ type: "InternalIP", address: "10.0.0.5" }] } }), undefined, "no name");
  t.is(nodeInfoOf({ metadata: { name: "n6" } }), undefined, "no status");
});

test("the IP map as cmd-map-ip-k8s writes it, with this pod's IP mapped to its node's external IP", t => {
  const nodes = [
    { name: "n1", internalIP: "10.0.0.1", externalIP: "203.0.113.1" },
    { name: "n2", internalIP: "10.0.0.2", externalIP: "" },
    { name: "n3", internalIP: "", externalIP: "198.51.100.3" },
  ];
  t.deepEqual(
    Object.fromEntries(ipMapOf(nodes, { nodeName: "n1", ip: "10.244.1.7" })),
    { "10.0.0.1": "203.0.113.1", "10.0.0.2": "10.0.0.2", "198.51.100.3": "198.51.100.3", "10.244.1.7": "203.0.113.1" },
  );
  t.deepEqual(Object.fromEntries(ipMapOf(nodes, { nodeName: "n2", ip: "10.244.2.7" }))["10.244.2.7"], "10.0.0.2", "no external IP: the internal one");
  t.false(ipMapOf(nodes, { nodeName: "elsewhere", ip: "10.244.9.9" }).has("10.244.9.9"), "a node not listed adds no pod entry");
  t.is(ipMapOf([]).size, 0);
});
