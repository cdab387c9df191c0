/**
 * lib/cli/timeline.ts and timeline-svg.ts on fixed entries: which mark each entry becomes and on
 * which lane, the terminal drawing (snapshot, and one small case spelled out), entries written
 * before reasons were recorded, an SVG that is well-formed and escapes what it shows, and what the
 * CLI's picture prints and writes.
 */
import test from "ava";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createPicture } from "../../../lib/cli/timeline-output.js";
import type { EventEntry } from "../../../lib/state/event-log.js";
import { buildTimeline, renderTimeline } from "../../../lib/cli/timeline.js";
import { MARK_GAP, layoutTimeline, renderTimelineSvg } from "../../../lib/cli/timeline-svg.js";

const T0 = Date.parse("2026-01-02T03:04:05.000Z");
const path = { index: 1, pathSegments: [{ name: "fwd-1", id: "f" }, { name: "proxy", id: "c1" }, { name: "nsmgr-2", id: "n" }, { name: "nse", id: "e" }] };
let seq = 0;
function entry(ms: number, type: string, state: string | undefined, end?: EventEntry["end"]): EventEntry {
  const conn = { id: "c1", path, networkService: "ns", ...(state ? { state } : {}) };
  return { position: `${T0 + ms}-${seq++}`, at: T0 + ms, type, peer: "10.0.0.2:5001", connectionIds: ["c1"], payload: { type, connections: { c1: conn } }, ...(end ? { end } : {}) };
}

const life = (): EventEntry[] => [
  entry(0, "UPDATE", undefined),
  entry(1500, "UPDATE", undefined),
  entry(4000, "UPDATE", "DOWN", { reason: "downstream_down", hop: "10.0.0.2:5001" }),
  entry(4300, "UPDATE", undefined),
  entry(9000, "UPDATE", "DOWN", { reason: "downstream_stream_lost", hop: "proxy", detail: "next hop 10.0.0.2:5001: broke" }),
  entry(9100, "UPDATE", undefined),
  entry(12000, "DELETE", undefined, { reason: "expired", hop: "proxy" }),
];

test("marks: Request, UPDATE, DOWN on the lane of the hop that saw it, HEAL after a DOWN, DELETE; lanes in path order with the next hop's address", t => {
  const timeline = buildTimeline("c1", life());
  t.deepEqual(timeline.lanes, [{ name: "fwd-1" }, { name: "proxy" }, { name: "nsmgr-2", address: "10.0.0.2:5001" }, { name: "nse" }]);
  t.deepEqual(
    timeline.marks.map(m => [m.kind, timeline.lanes[m.lane]!.name, m.reason ?? null]),
    [
      ["REQUEST", "proxy", null],
      ["UPDATE", "proxy", null],
      ["DOWN", "nsmgr-2", "downstream_down"],
      ["HEAL", "proxy", null],
      ["DOWN", "proxy", "downstream_stream_lost"],
      ["HEAL", "proxy", null],
      ["DELETE", "proxy", "expired"],
    ],
  );
  t.is(timeline.end - timeline.start, 12000);
});

test("the terminal drawing (snapshot)", t => {
  t.snapshot(renderTimeline(buildTimeline("c1", life())).join("\n"));
});

test("the terminal drawing, spelled out: entries recorded before reasons (no end) still draw, DOWN on this proxy's lane without words", t => {
  const lines = renderTimeline(buildTimeline("c1", [entry(0, "UPDATE", undefined), entry(250, "UPDATE", "DOWN"), entry(1000, "DELETE", undefined)]));
  t.deepEqual(lines, [
    "connection c1: 3 events, 2026-01-02T03:04:05.000Z .. 2026-01-02T03:04:06.000Z (1.000 s)",
    "",
    "time (UTC)        +s     fwd-1      proxy    nsmgr-2 @10.0.0.2:5001     nse",
    "                           |          |                |                 |",
    "03:04:05.000   0.000       |      [REQUEST]            |                 |",
    "03:04:05.250   0.250       |       [DOWN]              |                 |",
    "03:04:06.000   1.000       |      [DELETE]             |                 |",
    "",
    "REQUEST first Request  UPDATE refresh or change  DOWN connection down  HEAL up again after DOWN  DELETE closed",
  ]);
});

test("no entries: says so (terminal and SVG)", t => {
  t.deepEqual(renderTimeline(buildTimeline("gone", [])), ["connection gone: no events in the log"]);
  t.regex(renderTimelineSvg(buildTimeline("gone", [])), /no events in the log/);
});

test("SVG: one document, marks in time order at least MARK_GAP apart, text escaped, no scripts or links", t => {
  const entries = life();
  entries[4] = { ...entries[4]!, end: { reason: "refresh_failed", hop: "proxy", detail: `<b>"x" & y</b>` } };
  const timeline = buildTimeline("c1<&>", entries);
  const svg = renderTimelineSvg(timeline);
  t.is(svg.match(/<svg /g)?.length, 1);
  t.false(/<script|href=|<b>/.test(svg));
  t.true(svg.includes("c1&lt;&amp;&gt;") && svg.includes("&lt;b&gt;&quot;x&quot; &amp; y&lt;/b&gt;"));
  const layout = layoutTimeline(timeline);
  t.is(layout.marks.length, 7);
  for (let i = 1; i < layout.marks.length; i++) t.true(layout.marks[i]!.x - layout.marks[i - 1]!.x >= MARK_GAP - 1e-9);
  t.true(layout.marks.at(-1)!.x <= layout.width);
  t.true(layout.x(T0 + 4100) > layout.marks[2]!.x && layout.x(T0 + 4100) < layout.marks[3]!.x, "the axis maps times between marks between them");
});

test("the CLI's picture: --timeline prints the drawing only; --svg prints the lines and writes the file; a file it cannot write is exit 1 naming it", t => {
  const io = () => {
    const out: string[] = [];
    const err: string[] = [];
    return { out: (l: string) => void out.push(l), err: (l: string) => void err.push(l), lines: out, errors: err };
  };
  const drawn = io();
  const timeline = createPicture({ request: { connectionId: "c1" }, json: false, timeline: true, source: { kind: "gateway", address: "127.0.0.1:5007" } }, drawn);
  const seen = life();
  for (const e of seen) timeline.add(e);
  t.is(timeline.draw(), 0);
  t.deepEqual(drawn.lines, renderTimeline(buildTimeline("c1", seen)));

  const dir = mkdtempSync(join(tmpdir(), "pnsmgr-picture-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const written = io();
  const svg = createPicture({ request: { connectionId: "c1" }, json: true, svg: join(dir, "c1.svg"), source: { kind: "gateway", address: "127.0.0.1:5007" } }, written);
  const entries = life();
  for (const e of entries) svg.add(e);
  t.is(svg.draw(), 0);
  t.is(written.lines.length, entries.length);
  t.is(readFileSync(join(dir, "c1.svg"), "utf8"), renderTimelineSvg(buildTimeline("c1", entries)));
  t.regex(written.errors[0] ?? "", /wrote the timeline of c1 \(7 events\) to .*c1\.svg/);

  const failed = io();
  const nowhere = createPicture({ request: { connectionId: "c1" }, json: false, svg: join(dir, "missing", "c1.svg"), source: { kind: "gateway", address: "127.0.0.1:5007" } }, failed);
  t.is(nowhere.draw(), 1);
  t.regex(failed.errors[0] ?? "", /cannot write the SVG to .*missing\/c1\.svg/);
});
