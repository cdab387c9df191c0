/**
 * Why a connection ended, and its life as a picture, end to end: a real gateway (insecure v1) with a
 * stand-in NSMgr; the connection is requested, goes DOWN at the NSMgr, is healed, loses its
 * downstream monitor stream, is healed, is refreshed with an expired token, is healed and is
 * closed. Every DOWN / DELETE is recorded with its reason and the hop that saw it; the real CLI
 * prints them, draws the timeline in the terminal and writes the SVG, which rsvg-convert (Debian's
 * librsvg2-bin, installed by scripts/ensure-rsvg.sh when missing) renders to a PNG that is checked
 * for what a person would see: its size, each lane's label, and each mark in its lane in its colour.
 * The seed side too: a remote NSMgr's DOWN and DELETE, and its monitor stream dying, with reasons.
 */
import test from "ava";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConnectionEventType, State } from "../../../generated/nsm/connection.js";
import { NetworkServiceService } from "../../../generated/nsm/networkservice.js";
import { callError, callUnary, closeAll } from "../../support/grpc.js";
import { startTestGateway, stopGateways } from "../../support/gateway.js";
import { fwdRequest, fwdToken } from "../connection-v1/_topology.js";
import { killClis, parsed, runEventsCli, seedScenario, startRemotes, storedEvents, v1Connection } from "./_support.js";
import { buildTimeline } from "../../../lib/cli/timeline.js";
import { MARK_COLOURS, layoutTimeline } from "../../../lib/cli/timeline-svg.js";
import { readPng } from "../../support/png.js";
import { installPrometheus } from "../../support/prometheus.js";
import { startOtlpReceiver } from "../../support/otlp-receiver.js";

const dir = mkdtempSync(join(tmpdir(), "pnsmgr-timeline-"));

/** Why rsvg-convert is not at hand, after trying to install it; undefined when it is. */
const rsvgMissing = (() => {
  const ensure = spawnSync("bash", ["scripts/ensure-rsvg.sh"], { encoding: "utf8" });
  return ensure.status === 0 ? undefined : (ensure.stderr.trim() || `scripts/ensure-rsvg.sh exited ${ensure.status}`);
})();

test.afterEach.always(async () => {
  killClis();
  await stopGateways();
  await closeAll();
});
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

test.serial("every DOWN and DELETE has its reason and hop; the CLI prints them, draws the timeline and writes an SVG that renders as drawn", async t => {
  t.timeout(60_000);
  const { gateway, nsmgr, stream, answer, ourId, nsmgrId } = await v1Connection();
  t.teardown(() => stream.cancel());
  const refresh = async (lifetimeMs = 600_000) =>
    callUnary(gateway.v1Address, NetworkServiceService.request, { connection: answer, mechanismPreferences: fwdRequest().mechanismPreferences }, { metadata: await fwdToken(lifetimeMs) });
  /** Reads fwd-1's stream until the connection is in `state` (a refresh may be followed by the NSMgr's own UPDATE). */
  const until = async (state: State) => {
    for (let i = 0; i < 5; i++) if ((await stream.next()).connections[ourId]?.state === state) return true;
    return false;
  };
  const monitored = async () => {
    for (let i = 0; i < 300 && nsmgr.monitorCount() === 0; i++) await new Promise(r => setTimeout(r, 10));
  };

  nsmgr.connectionDown(nsmgrId);
  t.true(await until(State.DOWN));
  await refresh();
  t.true(await until(State.UP));
  await monitored();
  await new Promise(r => setTimeout(r, 150));
  nsmgr.breakMonitors();
  t.true(await until(State.DOWN));
  await refresh();
  t.true(await until(State.UP));
  const refused = await callError(gateway.v1Address, NetworkServiceService.request, { connection: answer, mechanismPreferences: fwdRequest().mechanismPreferences }, {
    metadata: { ...(await fwdToken()), "nsm-client-token-expires": new Date(Date.now() - 1000).toISOString() },
  });
  t.regex(refused.details, /expired/);
  t.true(await until(State.DOWN));
  await refresh();
  t.true(await until(State.UP));
  await callUnary(gateway.v1Address, NetworkServiceService.close, answer, { metadata: await fwdToken() });
  for (let i = 0; i < 5 && (await stream.next()).type !== ConnectionEventType.DELETE; i++);

  const entries = await storedEvents(gateway, 8);
  t.is(entries.at(-1)?.type, "DELETE");
  const ended = entries.filter(e => e.end);
  t.deepEqual(
    ended.map(e => [e.type, e.end?.reason, e.end?.hop]),
    [
      ["UPDATE", "downstream_down", nsmgr.address],
      ["UPDATE", "downstream_stream_lost", "proxy-1"],
      ["UPDATE", "token_expired", "proxy-1"],
      ["DELETE", "closed_by_client", "proxy-1"],
    ],
  );
  const stateIn = (e: (typeof entries)[number]) => (e.payload as { connections: Record<string, { state?: string }> }).connections[ourId]?.state ?? "UP";
  t.deepEqual(ended.map(stateIn), ["DOWN", "DOWN", "DOWN", "UP"], "DOWN events say DOWN; the DELETE carries the connection as it was");
  t.true(entries.filter(e => !e.end).every(e => e.type === "UPDATE" && stateIn(e) === "UP"), "the other events are UPDATEs that say UP");
  t.regex(ended[1]!.end?.detail ?? "", /monitor broke/, "the stream's error is the detail");

  // Readable lines and --json carry the reason.
  const lines = await runEventsCli(["--gateway", gateway.adminAddress, "--connection", ourId]);
  t.is(lines.code, 0, lines.stderr);
  t.is(lines.lines.length, entries.length);
  t.true(lines.lines.some(l => new RegExp(` UPDATE peer=${nsmgr.address} conn=${ourId} state=DOWN .* reason=downstream_down hop=${nsmgr.address}$`).test(l)), lines.lines.join("\n"));
  t.regex(lines.lines.at(-1)!, / DELETE .* reason=closed_by_client hop=proxy-1$/);
  const json = await runEventsCli(["--gateway", gateway.adminAddress, "--connection", ourId, "--json"]);
  t.deepEqual(
    parsed(json.lines).map(r => (r as { end?: { reason: string } }).end?.reason ?? null),
    entries.map(e => e.end?.reason ?? null),
  );

  // The terminal timeline: one lane per hop, one row per event, each mark under its lane.
  const drawn = await runEventsCli(["--gateway", gateway.adminAddress, "--connection", ourId, "--timeline"]);
  t.is(drawn.code, 0, drawn.stderr);
  const text = drawn.lines;
  t.log(text.join("\n"));
  const header = text[2]!;
  const lanes = ["nsc", "nsmgr-1", "fwd-1", "proxy-1", `nsmgr-2 @${nsmgr.address}`, "fwd-2", "nse"];
  const columns = lanes.map(lane => header.indexOf(lane) + Math.floor(lane.length / 2));
  t.true(columns.every((c, i) => c > 0 && (i === 0 || c > columns[i - 1]!)), `lanes in path order in: ${header}`);
  const rows = text.slice(4, 4 + entries.length);
  // What a person expects to see, entry by entry: the first UP is the Request, an UP after a DOWN a heal.
  const notes: Record<string, [number, string]> = {
    downstream_down: [4, `downstream_down: DOWN at the next hop (seen by ${nsmgr.address})`],
    downstream_stream_lost: [3, "downstream_stream_lost: downstream monitor stream lost (seen by proxy-1)"],
    token_expired: [3, "token_expired: token expired (seen by proxy-1)"],
    closed_by_client: [3, "closed_by_client: closed by the client (seen by proxy-1)"],
  };
  let wasDown = false;
  const expected = entries.map((e, i): [string, number, string?] => {
    if (e.end) {
      wasDown = e.type !== "DELETE";
      return [e.type === "DELETE" ? "[DELETE]" : "[DOWN]", ...notes[e.end.reason]!];
    }
    const mark = i === 0 ? "[REQUEST]" : wasDown ? "[HEAL]" : "[UPDATE]";
    wasDown = false;
    return [mark, 3];
  });
  t.deepEqual(expected.filter(([m]) => m === "[HEAL]").length, 3);
  expected.forEach(([mark, lane, note], i) => {
    const row = rows[i] ?? "";
    const at = row.indexOf(mark);
    t.true(at >= 0 && Math.abs(at + mark.length / 2 - columns[lane]!) <= 2, `row ${i} has ${mark} under ${lanes[lane]}: ${row}`);
    if (note) t.true(row.includes(note), `row ${i} says ${note}: ${row}`);
  });

  // The SVG, rendered by a real renderer, shows what was drawn.
  const svgFile = join(dir, "life.svg");
  const written = await runEventsCli(["--gateway", gateway.adminAddress, "--connection", ourId, "--svg", svgFile]);
  t.is(written.code, 0, written.stderr);
  t.is(written.lines.length, entries.length, "--svg alone still prints the lines");
  const svg = readFileSync(svgFile, "utf8");
  t.true(svg.startsWith("<?xml") && svg.includes("<svg ") && !/<script|href=/.test(svg), "a self-contained SVG");
  if (rsvgMissing) {
    t.log(`SKIPPED the PNG rendering: rsvg-convert is missing and could not be installed: ${rsvgMissing}`);
    return;
  }
  const pngFile = join(dir, "life.png");
  execFileSync("rsvg-convert", ["-o", pngFile, svgFile]);
  const png = readPng(readFileSync(pngFile));
  const layout = layoutTimeline(buildTimeline(ourId, entries));
  t.deepEqual([png.width, png.height], [layout.width, layout.height]);
  t.deepEqual(layout.lanes.map(l => l.label), lanes);
  const dark = (x: number, y: number) => {
    const [r, g, b] = png.pixel(x, y);
    return r + g + b < 3 * 160;
  };
  for (const lane of layout.lanes) {
    // The label, left of the lanes' time area: dark text pixels in the lane's band.
    let inked = 0;
    for (let y = lane.top; y < lane.top + lane.height; y++) for (let x = 10; x < 220; x++) if (dark(x, y)) inked++;
    t.true(inked > 30, `lane ${lane.label} shows its label (${inked} dark pixels)`);
  }
  const hex = (colour: string) => [1, 3, 5].map(i => parseInt(colour.slice(i, i + 2), 16));
  for (const mark of layout.marks) {
    const want = hex(MARK_COLOURS[mark.kind]);
    // A few pixels off the centre (a DOWN's white cross runs through it).
    const got = png.pixel(Math.round(mark.x) - 5, Math.round(mark.y));
    t.true(got.slice(0, 3).every((v, i) => Math.abs(v - want[i]!) <= 40), `${mark.kind} at (${Math.round(mark.x)}, ${Math.round(mark.y)}) is ${MARK_COLOURS[mark.kind]}, got ${got}`);
  }
  // And nothing drawn where nothing should be: the top right corner is background.
  t.deepEqual(png.pixel(png.width - 5, 5).slice(0, 3), [255, 255, 255]);
  t.log(`rendered ${svgFile} to ${pngFile}: ${png.width}x${png.height}`);
  if (process.env["PNSMGR_KEEP_TIMELINE_PNG"]) execFileSync("cp", [pngFile, svgFile, process.env["PNSMGR_KEEP_TIMELINE_PNG"]]);
});

test.serial("a connection not refreshed in time is recorded as expired, seen by this proxy", async t => {
  t.timeout(20_000);
  const { gateway } = await v1Connection({}, 1200);
  const entries = await storedEvents(gateway, 2, 5000);
  t.deepEqual(entries.map(e => [e.type, e.end?.reason ?? null, e.end?.hop ?? null]), [
    ["UPDATE", null, null],
    ["DELETE", "expired", "proxy-1"],
  ]);
});

test.serial("seed: a remote NSMgr's DOWN and DELETE, and its lost monitor stream, are recorded with reasons seen by that NSMgr; the timeline shows them", async t => {
  t.timeout(30_000);
  const remotes = await startRemotes();
  const gateway = await startTestGateway({ remotePort: remotes.remotePort });
  const { a, b, connA, entries } = await seedScenario(gateway, remotes);
  t.teardown(() => {
    a.stream.cancel();
    b.stream.cancel();
  });
  const peer = a.nsmgr.address;
  t.deepEqual(
    entries.filter(e => e.connectionIds.includes(connA)).map(e => [e.type, e.end?.reason ?? null, e.end?.hop ?? null]),
    [
      ["UPDATE", null, null],
      ["UPDATE", "downstream_down", peer],
      ["DELETE", "downstream_deleted", peer],
    ],
  );
  a.nsmgr.server.kill();
  const lost = await (async () => {
    for (let i = 0; i < 300; i++) {
      const found = (await gateway.state.events.read()).find(e => e.type === "UPSTREAM_LOST" && e.peer === peer);
      if (found) return found;
      await new Promise(r => setTimeout(r, 20));
    }
    return undefined;
  })();
  t.is(lost?.end?.reason, "upstream_lost");
  t.is(lost?.end?.hop, peer);

  const drawn = await runEventsCli(["--gateway", gateway.adminAddress, "--connection", connA, "--timeline"]);
  t.is(drawn.code, 0, drawn.stderr);
  t.log(drawn.lines.join("\n"));
  const rows = drawn.lines.filter(l => /^\d\d:\d\d:\d\d\.\d{3} /.test(l));
  t.deepEqual(rows.map(r => /\[(\w+)\]/.exec(r)?.[1]), ["REQUEST", "DOWN", "DELETE"]);
  t.true(rows[1]!.includes(`downstream_down: DOWN at the next hop (seen by ${peer})`), rows[1]);
  t.true(rows[2]!.includes(`downstream_deleted: deleted at the next hop (seen by ${peer})`), rows[2]);
});

test.serial("metrics and traces: pnsmgr_connection_ends_total{reason} counts ends; the served Close's span carries the reason and hop", async t => {
  t.timeout(30_000);
  const receiver = await startOtlpReceiver();
  t.teardown(() => receiver.stop());
  const prometheus = await installPrometheus(t, { otlp: { endpoint: receiver.address, exportIntervalMs: 500 } });
  const { gateway, nsmgr, stream, answer, nsmgrId } = await v1Connection();
  t.teardown(() => stream.cancel());
  nsmgr.connectionDown(nsmgrId);
  await stream.next();
  await callUnary(gateway.v1Address, NetworkServiceService.close, answer, { metadata: await fwdToken() });
  const ends = (await prometheus.scrape()).split("\n").filter(l => l.startsWith("pnsmgr_connection_ends_total{")).sort();
  t.deepEqual(ends, ['pnsmgr_connection_ends_total{reason="closed_by_client"} 1', 'pnsmgr_connection_ends_total{reason="downstream_down"} 1']);
  const name = "networkservice.NetworkService/Close";
  await receiver.waitFor(() => receiver.spans.some(s => s.name === name && s.attributes["pnsmgr.end.reason"] !== undefined), 15_000, "the Close span with its reason");
  const span = receiver.spans.find(s => s.name === name && s.attributes["pnsmgr.end.reason"] !== undefined)!;
  t.is(span.attributes["pnsmgr.end.reason"], "closed_by_client");
  t.is(span.attributes["pnsmgr.end.hop"], "proxy-1");
});
