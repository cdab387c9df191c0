import test from "ava";
import { firstValueFrom } from "rxjs";
import { chain } from "../../../lib/pipeline/element.js";
import { Code } from "../../../lib/pipeline/errors.js";
import { createNodeMap } from "../../../lib/nodes/node-map.js";
import { checkNodeQuery } from "../../../lib/planes/registry/check-node-query.js";
import { nodeIPConfiguration } from "../../../lib/planes/registry/node-ip-configuration.js";
import { NodeIPConfiguration } from "../../../generated/seed/clusterinfo.js";
import { ctx, errorOf } from "./_support.js";

const nodes = createNodeMap([
  { name: "node-1", internalIP: "10.0.0.1", externalIP: "203.0.113.1" },
  { name: "node-2", internalIP: "10.0.0.2", externalIP: "" },
  { name: "node-3", internalIP: "", externalIP: "203.0.113.3" },
]);
const handler = chain(checkNodeQuery())(nodeIPConfiguration(nodes));
const ask = (q: Partial<NodeIPConfiguration>) => firstValueFrom(handler(NodeIPConfiguration.fromPartial(q), ctx("/clusterinfo.ClusterInfo/GetNodeIPConfiguration")));

test("found by name, by internal IP, by external IP", async t => {
  const node1 = { nodeName: "node-1", internalIP: "10.0.0.1", externalIP: "203.0.113.1" };
  t.deepEqual(await ask({ nodeName: "node-1" }), node1);
  t.deepEqual(await ask({ internalIP: "10.0.0.1" }), node1);
  t.deepEqual(await ask({ externalIP: "203.0.113.1" }), node1);
  t.deepEqual(await ask({ internalIP: "10.0.0.2" }), { nodeName: "node-2", internalIP: "10.0.0.2", externalIP: "" });
});

test("empty fields match nothing: an empty external IP does not find node-2", async t => {
  t.deepEqual(await ask({ externalIP: "203.0.113.3" }), { nodeName: "node-3", internalIP: "", externalIP: "203.0.113.3" });
  t.is((await errorOf(handler(NodeIPConfiguration.fromPartial({ nodeName: "nope", externalIP: "" }), ctx()))).code, Code.NOT_FOUND);
});

test("the first node matching any field answers", async t => {
  t.is((await ask({ nodeName: "node-2", internalIP: "10.0.0.1" })).nodeName, "node-1");
});

test("no match is NOT_FOUND with the query in the message", async t => {
  const error = await errorOf(handler(NodeIPConfiguration.fromPartial({ internalIP: "10.9.9.9" }), ctx()));
  t.is(error.code, Code.NOT_FOUND);
  t.is(error.message, "node was not found: internalIP=10.9.9.9");
});

test("an empty query is INVALID_ARGUMENT", async t => {
  const error = await errorOf(handler(NodeIPConfiguration.fromPartial({}), ctx()));
  t.is(error.code, Code.INVALID_ARGUMENT);
  t.regex(error.message, /query is empty/);
});
