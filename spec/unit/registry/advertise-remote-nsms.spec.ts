import test from "ava";
import { firstValueFrom, of } from "rxjs";
import { chain } from "../../../lib/pipeline/element.js";
import { createNodeMap } from "../../../lib/nodes/node-map.js";
import { advertiseRemoteNsms } from "../../../lib/planes/registry/advertise-remote-nsms.js";
import { localizeNsm } from "../../../lib/planes/registry/localize-nsm.js";
import { onThisNode } from "../../../lib/planes/registry/this-node.js";
import { ctx, findResponse } from "./_support.js";

const nodes = createNodeMap([{ name: "node-1", internalIP: "10.0.0.1", externalIP: "203.0.113.1" }]);
const remote = findResponse({
  networkService: { name: "icmp" },
  networkServiceManagers: {
    "node-7": { name: "node-7", url: "198.51.100.7:5001", state: "RUNNING" },
    "key-8": { name: "node-8", url: "198.51.100.8:5001" },
  },
  networkServiceEndpoints: [
    { name: "a", networkServiceManagerName: "node-7" },
    { name: "b", networkServiceManagerName: "key-8" },
  ],
});

test("each NSMgr becomes name@url at the advertised address, keys and endpoints unchanged", async t => {
  const handler = chain(advertiseRemoteNsms("pnsmgr-svc:5006", onThisNode(nodes, undefined)))(() => of(remote));
  const res = await firstValueFrom(handler({ networkServiceName: "icmp" }, ctx()));
  t.deepEqual(res.networkServiceManagers, {
    "node-7": { name: "node-7@198.51.100.7:5001", url: "pnsmgr-svc:5006", state: "RUNNING", lastSeen: undefined },
    "key-8": { name: "node-8@198.51.100.8:5001", url: "pnsmgr-svc:5006", state: "", lastSeen: undefined },
  });
  t.is(res.networkServiceEndpoints, remote.networkServiceEndpoints);
  t.is(remote.networkServiceManagers["node-7"]?.url, "198.51.100.7:5001", "the answer received is not edited");
});

test("this node's NSMgr is left to localize-nsm; in the plane's order both apply", async t => {
  const here = onThisNode(nodes, "node-1");
  const withLocal = findResponse({
    networkServiceManagers: {
      "node-1_203.0.113.1_5001": { name: "node-1_203.0.113.1_5001", url: "203.0.113.1:5001" },
      "node-7": { name: "node-7", url: "198.51.100.7:5001" },
    },
  });
  const alone = await firstValueFrom(chain(advertiseRemoteNsms("proxy:5006", here))(() => of(withLocal))({ networkServiceName: "icmp" }, ctx()));
  t.is(alone.networkServiceManagers["node-1_203.0.113.1_5001"]?.url, "203.0.113.1:5001");
  t.is(alone.networkServiceManagers["node-7"]?.url, "proxy:5006");

  const both = await firstValueFrom(
    chain(advertiseRemoteNsms("proxy:5006", here), localizeNsm("node-1", here))(() => of(withLocal))({ networkServiceName: "icmp" }, ctx()),
  );
  t.deepEqual(
    Object.entries(both.networkServiceManagers).map(([k, n]) => [k, n.name, n.url]),
    [
      ["node-7", "node-7@198.51.100.7:5001", "proxy:5006"],
      ["node-1", "node-1", "203.0.113.1:5001"],
    ],
  );
});
