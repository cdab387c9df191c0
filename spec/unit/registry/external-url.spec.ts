import test from "ava";
import { createNodeMap } from "../../../lib/nodes/node-map.js";
import { externalUrl } from "../../../lib/planes/registry/external-url.js";

const nodes = createNodeMap([
  { name: "node-1", internalIP: "10.0.0.1", externalIP: "203.0.113.1" },
  { name: "node-2", internalIP: "10.0.0.2", externalIP: "" },
  { name: "node-v6", internalIP: "fd00::3", externalIP: "2001:db8::3" },
]);

test("the URL's IP finds the node; the host becomes its external IP, the port is kept", t => {
  t.is(externalUrl(nodes, "10.0.0.1:5001", "whatever"), "203.0.113.1:5001");
  t.is(externalUrl(nodes, "203.0.113.1:5001", "whatever"), "203.0.113.1:5001");
});

test("a node without an external IP gives its internal IP", t => {
  t.is(externalUrl(nodes, "10.0.0.2:5001", ""), "10.0.0.2:5001");
});

test("IPv6 URLs stay bracketed", t => {
  t.is(externalUrl(nodes, "[fd00::3]:5001", ""), "[2001:db8::3]:5001");
});

test("the URL's IP wins over the name; the name is the fallback", t => {
  t.is(externalUrl(nodes, "10.0.0.1:5001", "node-2"), "203.0.113.1:5001");
  t.is(externalUrl(nodes, "nsmd.local:5001", "node-1"), "203.0.113.1:5001");
  t.is(externalUrl(nodes, "192.0.2.99:5001", "node-1"), "203.0.113.1:5001");
});

test("no match, or a URL that is not host:port, gives undefined", t => {
  t.is(externalUrl(nodes, "192.0.2.99:5001", "node-9"), undefined);
  t.is(externalUrl(nodes, "10.0.0.1", "node-1"), undefined);
});
