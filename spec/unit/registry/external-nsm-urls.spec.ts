import test from "ava";
import { firstValueFrom, of } from "rxjs";
import { chain } from "../../../lib/pipeline/element.js";
import { createNodeMap } from "../../../lib/nodes/node-map.js";
import { externalNsmUrls } from "../../../lib/planes/registry/external-nsm-urls.js";
import { ctx, findResponse, recordingLog } from "./_support.js";

const nodes = createNodeMap([
  { name: "node-1", internalIP: "10.0.0.1", externalIP: "203.0.113.1" },
  { name: "node-2", internalIP: "10.0.0.2", externalIP: "203.0.113.2" },
]);

const local = findResponse({
  networkService: { name: "icmp" },
  networkServiceManagers: {
    "node-1": { name: "node-1", url: "10.0.0.1:5001" },
    "node-2": { name: "nsmd-b", url: "nsmd-b.svc:5001" },
    "node-9": { name: "node-9", url: "10.9.9.9:5001" },
  },
  networkServiceEndpoints: [{ name: "nse", networkServiceManagerName: "node-1" }],
});

test("each NSMgr URL gets its node's external IP; keys, names and endpoints unchanged", async t => {
  const log = recordingLog();
  const handler = chain(externalNsmUrls(nodes, log))(() => of(local));
  const res = await firstValueFrom(handler({ networkServiceName: "icmp" }, ctx()));
  t.deepEqual(
    Object.entries(res.networkServiceManagers).map(([k, n]) => [k, n.name, n.url]),
    [
      ["node-1", "node-1", "203.0.113.1:5001"],
      ["node-2", "nsmd-b", "203.0.113.2:5001"], // found by the map key
      ["node-9", "node-9", "10.9.9.9:5001"], // no node: kept
    ],
  );
  t.is(res.networkServiceEndpoints, local.networkServiceEndpoints);
  t.is(local.networkServiceManagers["node-1"]?.url, "10.0.0.1:5001", "the answer received is not edited");
  t.deepEqual(
    log.lines.map(l => [l.level, l.fields.nsm]),
    [["debug", "node-9"]],
  );
});
