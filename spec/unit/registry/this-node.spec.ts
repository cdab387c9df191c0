import test from "ava";
import { createNodeMap } from "../../../lib/nodes/node-map.js";
import { onThisNode } from "../../../lib/planes/registry/this-node.js";

const nodes = createNodeMap([
  { name: "node-1", internalIP: "10.0.0.1", externalIP: "203.0.113.1" },
  { name: "node-2", internalIP: "10.0.0.2", externalIP: "203.0.113.2" },
]);

test("a URL on this node's external or internal IP, any port, is on this node", t => {
  const here = onThisNode(nodes, "node-1");
  t.true(here("203.0.113.1:5001"));
  t.true(here("10.0.0.1:80"));
});

test("another node's URL, a malformed URL or an empty one is not", t => {
  const here = onThisNode(nodes, "node-1");
  t.false(here("203.0.113.2:5001"));
  t.false(here("10.0.0.2:5001"));
  t.false(here("203.0.113.1"));
  t.false(here(""));
});

test("nothing is on this node when NODE_NAME is unset or unknown to the node map", t => {
  t.false(onThisNode(nodes, undefined)("203.0.113.1:5001"));
  t.false(onThisNode(nodes, "node-9")("203.0.113.1:5001"));
});

test("a reloaded node map is seen at once", t => {
  const map = createNodeMap([]);
  const here = onThisNode(map, "node-1");
  t.false(here("10.0.0.1:5001"));
  map.replace([{ name: "node-1", internalIP: "10.0.0.1", externalIP: "" }]);
  t.true(here("10.0.0.1:5001"));
});
