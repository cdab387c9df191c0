import test from "ava";
import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createNodeMap } from "../../../lib/nodes/node-map.js";
import { parseNodeMap, watchNodeMapFile } from "../../../lib/nodes/node-map-file.js";
import { waitFor } from "../../support/wait.js";

test("lookups by name and by internal or external IP", t => {
  const map = createNodeMap([
    { name: "a", internalIP: "10.0.0.1", externalIP: "203.0.113.1" },
    { name: "b", internalIP: "10.0.0.2", externalIP: "" },
  ]);
  t.is(map.byName("a")?.internalIP, "10.0.0.1");
  t.is(map.byIP("203.0.113.1")?.name, "a");
  t.is(map.externalOf("10.0.0.1"), "203.0.113.1");
  t.is(map.externalOf("10.0.0.2"), "10.0.0.2", "no external IP: the internal one is the reachable one");
  t.is(map.externalOf("10.9.9.9"), undefined);
});

test("the file format is checked with messages naming the entry", t => {
  t.deepEqual(parseNodeMap("nodes:\n  - {name: a, internalIP: 10.0.0.1, externalIP: 203.0.113.1}\n"), [{ name: "a", internalIP: "10.0.0.1", externalIP: "203.0.113.1" }]);
  t.deepEqual(parseNodeMap(""), []);
  t.throws(() => parseNodeMap("nodes: 3"), { message: /must be a list/ });
  t.throws(() => parseNodeMap("nodes:\n  - {internalIP: 10.0.0.1}"), { message: /nodes\[0\] has no name/ });
  t.throws(() => parseNodeMap("nodes:\n  - {name: a, internalIP: 10.0.0.300}"), { message: /not an IP/ });
});

test("a watched file is reloaded on change, and a broken one keeps the last good map", async t => {
  const dir = mkdtempSync(join(tmpdir(), "pnsmgr-nodes-"));
  const file = join(dir, "nodes.yaml");
  writeFileSync(file, "nodes:\n  - {name: a, internalIP: 10.0.0.1, externalIP: 203.0.113.1}\n");
  const map = createNodeMap();
  const reports: string[] = [];
  const watch = watchNodeMapFile(file, map, m => reports.push(m));
  t.teardown(() => {
    watch.close();
    rmSync(dir, { recursive: true, force: true });
  });
  t.is(map.nodes().length, 1);

  // Replace the file the way a ConfigMap update does: a new file renamed over the old one.
  writeFileSync(join(dir, "next.yaml"), "nodes:\n  - {name: a, internalIP: 10.0.0.1, externalIP: 203.0.113.9}\n  - {name: b, internalIP: 10.0.0.2}\n");
  renameSync(join(dir, "next.yaml"), file);
  // Real time: the reload comes from the file system's watch events (real I/O), not from a timer alone.
  await waitFor(() => map.nodes().length === 2, 3000, "the reloaded map");
  t.is(map.externalOf("10.0.0.1"), "203.0.113.9");

  writeFileSync(file, "nodes: [broken");
  t.false(watch.reload());
  t.is(map.nodes().length, 2, "last good map kept");
  t.true(reports.some(r => r.includes("not loaded")));
});
