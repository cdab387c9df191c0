/**
 * `pnsmgr events` against a single gateway on the in-memory store, the CLI as a real child process:
 * seed monitor events relayed through the gateway are recorded once each and replayed by connection,
 * by peer, by time range and from a position, in order, readable and as JSON, from any listener;
 * --follow prints events that happen after it started and exits 0 on SIGTERM; an unreachable
 * gateway is exit code 1, a bad flag 2; the log's length bound (PNSMGR_EVENTS_MAX_LEN) holds.
 */
import test from "ava";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConnectionEventType } from "../../../generated/nsm/connection.js";
import { NetworkServiceService } from "../../../generated/nsm/networkservice.js";
import { positionTime } from "../../../lib/state/event-log.js";
import { stateOptionsFromEnv } from "../../../lib/state/state.js";
import { callUnary, closeAll, openServerStream } from "../../support/grpc.js";
import { status } from "@grpc/grpc-js";
import { EventsService } from "../../../generated/pnsmgr/admin.js";
import { startTestGateway, stopGateways } from "../../support/gateway.js";
import { freePort } from "../../support/ports.js";
import { seedRequest } from "../../support/seed-requests.js";
import { threeAtATime, killClis, linesOf, parsed, runEventsCli, seedScenario, startEventsCli, startRemotes, storedEvents, watch } from "./_support.js";
import { sleep, within } from "../../support/wait.js";

test.afterEach.always(async () => {
  killClis();
  await stopGateways();
  await closeAll();
});

const iso = (ms: number) => new Date(ms).toISOString();
const READABLE = /^(\d+-\d+) (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (INITIAL_STATE_TRANSFER|UPDATE|DELETE) peer=(\S+) conn=(\S+) (.*)$/;

test.serial("replay by connection, peer, time range and position, in order, readable and JSON, from the admin listener", async t => {
  t.timeout(90_000);
  const remotes = await startRemotes();
  const gateway = await startTestGateway({ remotePort: remotes.remotePort });
  const { a, b, connA, connB, entries } = await seedScenario(gateway, remotes);
  t.teardown(() => {
    a.stream.cancel();
    b.stream.cancel();
  });
  t.deepEqual(
    entries.map(e => [e.type, e.peer]),
    [
      ["INITIAL_STATE_TRANSFER", a.nsmgr.address],
      ["INITIAL_STATE_TRANSFER", b.nsmgr.address],
      ["UPDATE", a.nsmgr.address],
      ["UPDATE", b.nsmgr.address],
      ["UPDATE", a.nsmgr.address],
      ["DELETE", a.nsmgr.address],
    ],
    "each upstream event recorded once, with the remote NSMgr as peer",
  );
  const from = positionTime(entries[2]!.position);
  const to = positionTime(entries[4]!.position);
  const inRange = entries.filter(e => positionTime(e.position) >= from && positionTime(e.position) <= to);
  const api = gateway.adminAddress;

  // Three CLI processes at a time: nine starting at once took longer than a CLI's own limit on a loaded 2-core machine.
  const unusedPort = await freePort();
  const [byConnection, byPeer, everything, range, v1First, afterPosition, relative, badFlag, unreachable] = await threeAtATime([
    () => runEventsCli(["--gateway", api, "--connection", connA]),
    () => runEventsCli(["--gateway", api, "--peer", b.nsmgr.address, "--json"]),
    () => runEventsCli(["--gateway", api, "--json"]),
    () => runEventsCli(["--gateway", api, "--json", "--from", iso(from), "--to", iso(to)]),
    () => runEventsCli(["--gateway", api, "--limit", "2"]),
    () => runEventsCli(["--gateway", api, "--json", "--after", entries[3]!.position]),
    () => runEventsCli(["--gateway", api, "--from", "1h", "--to", "now", "--connection", connB]),
    () => runEventsCli(["--gateway", api, "--limit", "zero"]),
    () => runEventsCli(["--gateway", `127.0.0.1:${unusedPort}`]),
  ]);

  // readable, by connection
  t.is(byConnection.code, 0, byConnection.stderr);
  t.is(byConnection.stderr, "");
  t.is(byConnection.lines.length, 3, byConnection.lines.join("\n"));
  const rows = byConnection.lines.map(l => READABLE.exec(l));
  t.true(rows.every(Boolean), byConnection.lines.join("\n"));
  t.deepEqual(rows.map(r => r?.[1]), [entries[2], entries[4], entries[5]].map(e => e!.position), "in log order");
  t.deepEqual(rows.map(r => r?.[3]), ["UPDATE", "UPDATE", "DELETE"]);
  t.true(rows.every(r => r?.[4] === a.nsmgr.address && r?.[5] === connA));
  // The client's view: segment 1 as the client wrote it (the service gets its domain back once the
  // connection record is stored, which may be after the remote's UPDATE).
  t.regex(rows[0]?.[6] ?? "", new RegExp(`^state=UP path\\[1\\]=${a.nsm.replace(/[.]/g, "\\.")} service=icmp-responder(@domain-2)?$`));
  t.regex(rows[1]?.[6] ?? "", /^state=DOWN /);
  t.is(rows[0]?.[2], iso(entries[2]!.at));

  // JSON, by peer
  t.is(byPeer.code, 0, byPeer.stderr);
  const peerRows = parsed(byPeer.lines);
  t.deepEqual(peerRows.map(r => r.type), ["INITIAL_STATE_TRANSFER", "UPDATE"]);
  t.deepEqual(peerRows[1]?.connectionIds, [connB]);
  t.regex(peerRows[1]?.payload.connections?.[connB]?.networkService ?? "", /^icmp-responder/);
  t.true(peerRows.every(r => r.peer === b.nsmgr.address));

  // everything, in order, exactly what the store holds
  t.is(everything.code, 0, everything.stderr);
  t.deepEqual(
    parsed(everything.lines).map(r => [r.position, r.type, r.peer, r.connectionIds, r.at]),
    entries.map(e => [e.position, e.type, e.peer, e.connectionIds, e.at]),
  );
  t.deepEqual(parsed(everything.lines).map(r => r.payload), entries.map(e => e.payload as never));

  // a time range (RFC3339), and a relative one
  t.is(range.code, 0, range.stderr);
  t.deepEqual(parsed(range.lines).map(r => r.position), inRange.map(e => e.position));
  t.true(inRange.length >= 3);
  t.is(relative.code, 0, relative.stderr);
  t.is(relative.lines.length, 1);
  t.regex(relative.lines[0] ?? "", new RegExp(` UPDATE peer=\\S+ conn=${connB} `));

  // the v1 listener and the registry listener serve it too; --limit and --after
  t.is(v1First.code, 0, v1First.stderr);
  t.deepEqual(v1First.lines.map(l => READABLE.exec(l)?.[1]), [entries[0]!.position, entries[1]!.position]);
  t.deepEqual(parsed(afterPosition.lines).map(r => r.position), [entries[4]!.position, entries[5]!.position]);

  // exit codes
  t.is(badFlag.code, 2);
  t.deepEqual(badFlag.lines, []);
  t.regex(badFlag.stderr, /^pnsmgr events: --limit "zero" [^\n]*\n$/);
  t.is(unreachable.code, 1);
  t.regex(unreachable.stderr, /^pnsmgr events: cannot reach the gateway at 127\.0\.0\.1:\d+: .*ECONNREFUSED/);

});

test.serial("--follow prints events that happen after it started, with or without a start, and exits 0 on SIGTERM", async t => {
  t.timeout(30_000);
  const remotes = await startRemotes();
  const gateway = await startTestGateway({ remotePort: remotes.remotePort });
  const a = watch(gateway, remotes.a);
  t.teardown(() => a.stream.cancel());
  await a.stream.next();
  const conn = (await callUnary(gateway.apiAddress, NetworkServiceService.request, seedRequest(a.nsm))).id;
  await a.stream.next();
  const before = await storedEvents(gateway, 2);

  // From now: it cannot say when it is listening, so the remote reports DOWN until it shows one.
  const live = startEventsCli(["--gateway", gateway.adminAddress, "--follow", "--json", "--connection", conn]);
  // From a position: the replay first, then live, with no gap.
  const resumed = startEventsCli(["--gateway", gateway.adminAddress, "--follow", "--after", before[0]!.position]);
  const deadline = Date.now() + 15_000;
  while (live.lines().length === 0) {
    if (Date.now() > deadline || live.child.exitCode !== null) return t.fail(`no line from --follow:\n${live.stderr()}`);
    a.nsmgr.connectionDown(conn);
    await a.stream.next();
    await sleep(150);
  }
  t.true(parsed(live.lines()).every(r => r.type === "UPDATE" && r.connectionIds[0] === conn && r.payload.connections?.[conn]?.state === "DOWN"));

  a.nsmgr.endpointDies(conn);
  t.is((await a.stream.next()).type, ConnectionEventType.DELETE);
  const stored = await storedEvents(gateway, before.length + 1);
  const deleted = stored.at(-1)!;
  t.is(deleted.type, "DELETE");
  const liveLines = await linesOf(live, parsed(live.lines()).length + 1);
  t.is(parsed(liveLines).at(-1)?.position, deleted.position);
  const resumedLines = await linesOf(resumed, stored.length - 1);
  t.deepEqual(resumedLines.map(l => l.split(" ")[0]), stored.slice(1).map(e => e.position), "after the position: every later event, once, in order");

  for (const cli of [live, resumed]) {
    cli.child.kill("SIGTERM");
    const { code, signal } = await within(cli.exited, 5000, "exit after SIGTERM");
    t.is(signal, null);
    t.is(code, 0, cli.stderr());
    t.is(cli.stderr(), "");
  }
});

test.serial("PNSMGR_EVENTS_MAX_LEN bounds the log: only the newest entries are replayed", async t => {
  t.timeout(20_000);
  const remotes = await startRemotes();
  const gateway = await startTestGateway({ remotePort: remotes.remotePort, state: stateOptionsFromEnv({ PNSMGR_EVENTS_MAX_LEN: "3" }) });
  const a = watch(gateway, remotes.a);
  t.teardown(() => a.stream.cancel());
  await a.stream.next();
  const conn = (await callUnary(gateway.apiAddress, NetworkServiceService.request, seedRequest(a.nsm))).id;
  await a.stream.next();
  for (let i = 0; i < 3; i++) {
    a.nsmgr.connectionDown(conn);
    await a.stream.next();
  }
  // five events crossed the proxy: ITS, UPDATE (UP), three UPDATE (DOWN)
  let rows: ReturnType<typeof parsed> = [];
  const deadline = Date.now() + 5000;
  do {
    const replay = await runEventsCli(["--gateway", gateway.adminAddress, "--json"]);
    t.is(replay.code, 0, replay.stderr);
    rows = parsed(replay.lines);
  } while (!rows.every(r => r.payload.connections?.[conn]?.state === "DOWN") && Date.now() < deadline);
  t.is(rows.length, 3);
  t.true(rows.every(r => r.type === "UPDATE" && r.payload.connections?.[conn]?.state === "DOWN"), JSON.stringify(rows));
});

test.serial("a replay longer than a stream may queue (15000 events) reaches the reader whole: the replay waits for it", async t => {
  t.timeout(30_000);
  const gateway = await startTestGateway();
  const payload = { type: "UPDATE", connections: { x: { id: "x", networkService: "svc", labels: { note: "x".repeat(300) } } } };
  for (let i = 0; i < 15_000; i++) await gateway.state.events.append({ connectionIds: ["x"], peer: "p", type: "UPDATE", payload, at: i });
  const replay = await runEventsCli(["--gateway", gateway.adminAddress, "--json"], {}, 25_000);
  t.is(replay.code, 0, replay.stderr);
  t.is(replay.lines.length, 15_000);
  t.is(parsed(replay.lines).at(-1)?.at, 14_999);
});

const READ_ALL = { connectionId: "", peer: "", fromMs: "0", toMs: "0", after: "", follow: false, limit: 0 };
const readStatus = async (address: string) => (await openServerStream(address, EventsService.read, READ_ALL).status).code;

test.serial("by default the event log is served only on the admin listener: the public listeners answer UNIMPLEMENTED", async t => {
  const gateway = await startTestGateway();
  t.is(await readStatus(gateway.adminAddress), status.OK);
  for (const address of [gateway.apiAddress, gateway.registryAddress, gateway.v1Address]) t.is(await readStatus(address), status.UNIMPLEMENTED, address);
});

test.serial("PNSMGR_ADMIN_EVENTS=public serves it on the public listeners too; off serves it nowhere", async t => {
  const open = await startTestGateway({ adminEvents: "public" });
  for (const address of [open.adminAddress, open.apiAddress, open.registryAddress, open.v1Address]) t.is(await readStatus(address), status.OK, address);
  const off = await startTestGateway({ adminEvents: "off" });
  for (const address of [off.adminAddress, off.apiAddress, off.v1Address]) t.is(await readStatus(address), status.UNIMPLEMENTED, address);
});

test.serial("the admin listener can be a unix socket, and pnsmgr events reads it (its default source is PNSMGR_ADMIN_LISTEN_ON)", async t => {
  const socket = join(mkdtempSync(join(tmpdir(), "pnsmgr-admin-")), "admin.sock");
  const gateway = await startTestGateway({ adminListenAddress: `unix://${socket}` });
  t.is(gateway.adminAddress, `unix://${socket}`);
  t.is(await readStatus(gateway.adminAddress), status.OK);
  const replay = await runEventsCli([], { PNSMGR_ADMIN_LISTEN_ON: `unix://${socket}` });
  t.is(replay.code, 0, replay.stderr);
  t.deepEqual(replay.lines, []);
});
