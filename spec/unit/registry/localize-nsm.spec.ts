import test from "ava";
import { firstValueFrom, of } from "rxjs";
import { chain } from "../../../lib/pipeline/element.js";
import { createNodeMap } from "../../../lib/nodes/node-map.js";
import { localizeNsm } from "../../../lib/planes/registry/localize-nsm.js";
import { onThisNode } from "../../../lib/planes/registry/this-node.js";
import type { FindNetworkServiceResponse } from "../../../generated/seed/registry.js";
import { ctx, findResponse } from "./_support.js";

const nodes = createNodeMap([{ name: "node-1", internalIP: "10.0.0.1", externalIP: "203.0.113.1" }]);
const run = async (answer: FindNetworkServiceResponse, nodeName: string | undefined) =>
  firstValueFrom(chain(localizeNsm(nodeName, onThisNode(nodes, nodeName)))(() => of(answer))({ networkServiceName: "icmp" }, ctx()));

/** What NSMRS answers when this node's NSMgr registered an NSE: "name_ip_port" names. */
const fromNsmrs = findResponse({
  networkService: { name: "icmp" },
  networkServiceManagers: {
    "node-1_203.0.113.1_5001": { name: "node-1_203.0.113.1_5001", url: "203.0.113.1:5001" },
    "node-7_198.51.100.7_5001": { name: "node-7_198.51.100.7_5001", url: "198.51.100.7:5001" },
  },
  networkServiceEndpoints: [
    { name: "nse-here", networkServiceName: "icmp", networkServiceManagerName: "node-1_203.0.113.1_5001" },
    { name: "nse-there", networkServiceName: "icmp", networkServiceManagerName: "node-7_198.51.100.7_5001" },
  ],
});

test("this node's NSMgr becomes NODE_NAME, under the key NODE_NAME, and its endpoints point at it", async t => {
  const res = await run(fromNsmrs, "node-1");
  t.deepEqual(Object.keys(res.networkServiceManagers).sort(), ["node-1", "node-7_198.51.100.7_5001"]);
  t.is(res.networkServiceManagers["node-1"]?.name, "node-1");
  t.is(res.networkServiceManagers["node-1"]?.url, "203.0.113.1:5001", "the URL is kept");
  t.deepEqual(
    res.networkServiceEndpoints.map(e => [e.name, e.networkServiceManagerName]),
    [
      ["nse-here", "node-1"],
      ["nse-there", "node-7_198.51.100.7_5001"],
    ],
  );
  t.is(fromNsmrs.networkServiceManagers["node-1_203.0.113.1_5001"]?.name, "node-1_203.0.113.1_5001", "the answer received is not edited");
});

test("an endpoint is renamed by the NSMRS suffix even when its NSMgr name differs from the key", async t => {
  const res = await run(
    findResponse({
      networkServiceManagers: { k: { name: "whatever", url: "10.0.0.1:5001" } },
      networkServiceEndpoints: [
        { name: "a", networkServiceManagerName: "nsmd_10.0.0.1_5001" },
        { name: "b", networkServiceManagerName: "whatever" },
        { name: "c", networkServiceManagerName: "nsmd_10.0.0.1_50011" },
      ],
    }),
    "node-1",
  );
  t.deepEqual(Object.keys(res.networkServiceManagers), ["node-1"]);
  t.deepEqual(
    res.networkServiceEndpoints.map(e => e.networkServiceManagerName),
    ["node-1", "node-1", "nsmd_10.0.0.1_50011"],
  );
});

test("an answer with no NSMgr on this node is returned as it came", async t => {
  const answer = findResponse({
    networkServiceManagers: { "node-7": { name: "node-7", url: "198.51.100.7:5001" } },
    networkServiceEndpoints: [{ name: "nse", networkServiceManagerName: "node-7" }],
  });
  t.is(await run(answer, "node-1"), answer);
});

test("without NODE_NAME nothing is localized", async t => {
  t.is(await run(fromNsmrs, undefined), fromNsmrs);
});
