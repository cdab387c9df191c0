/**
 * MonitorConnections through the seed proxy over real gRPC: initial state, events relayed once each
 * and shown the client's way, DELETE when the endpoint dies, UNAVAILABLE when the remote NSMgr dies,
 * the upstream cancelled when the client leaves, one upstream shared by many clients.
 */
import test, { type ExecutionContext } from "ava";
import { status } from "@grpc/grpc-js";
import { ConnectionEventType, MonitorConnectionService, type MonitorScopeSelector } from "../../../generated/nsm/connection.js";
import type { Config } from "../../../lib/config.js";
import { NetworkServiceService } from "../../../generated/nsm/networkservice.js";
import { callUnary, closeAll, openServerStream } from "../../support/grpc.js";
import { waitFor } from "../../support/wait.js";
import { sandbox } from "../../support/sandbox.js";
import { seedRequest } from "../../support/seed-requests.js";
import { monitorWithPositions, seedSelector, segment } from "../../support/wire.js";

test.afterEach.always(async () => {
  await closeAll();
});


async function setup(t: ExecutionContext, overrides: Partial<Config> = {}) {
  const world = await sandbox(t)
    .domain("domain-2", d => d.seedNsmgrs([{ name: "nsmgr-2", dstIP: "10.2.0.7" }], [{ nodeName: "r", internalIP: "10.2.0.7", externalIP: "198.51.100.7" }]))
    .domain("domain-1", d => d.gateway(overrides, { seedRemote: "domain-2", nodes: [{ name: "node-1", internalIP: "10.1.0.5", externalIP: "203.0.113.5" }] }))
    .build();
  const remote = world.domain("domain-2").seedNsmgrs[0]!;
  return { remote, gateway: world.domain("domain-1").gateway, remoteNsm: `nsmgr-2@${remote.address}` };
}

test.serial("initial state, then UPDATE and DELETE, each once, in the client's terms", async t => {
  const { remote, gateway, remoteNsm } = await setup(t);
  const conn = await callUnary(gateway.apiAddress, NetworkServiceService.request, seedRequest(remoteNsm));

  const stream = openServerStream(gateway.apiAddress, MonitorConnectionService.monitorConnections, seedSelector(remoteNsm));
  const initial = await stream.next();
  t.is(initial.type, ConnectionEventType.INITIAL_STATE_TRANSFER);
  const shown = initial.connections[conn.id];
  t.truthy(shown, "the existing connection is in the initial state");
  t.is(shown?.path?.pathSegments[1]?.name, remoteNsm, "segment 1 shown as the client wrote it");
  t.is(shown?.networkService, "icmp-responder@domain-2", "service shown with its domain");
  t.is(shown?.mechanism?.parameters.src_ip, "10.1.0.5", "the client's own src_ip");
  t.is(shown?.mechanism?.parameters.dst_ip, "198.51.100.7", "the remote's external dst_ip");

  remote.connectionDown(conn.id);
  const down = await stream.next();
  t.is(down.type, ConnectionEventType.UPDATE);
  t.is(down.connections[conn.id]?.state, 1, "state DOWN relayed");

  remote.endpointDies(conn.id);
  const deleted = await stream.next();
  t.is(deleted.type, ConnectionEventType.DELETE);
  t.deepEqual(Object.keys(deleted.connections), [conn.id]);
  t.is(deleted.connections[conn.id]?.path?.pathSegments[1]?.name, remoteNsm, "DELETE matches the client's (id, segment 1)");

  await new Promise(r => setTimeout(r, 100));
  t.is(stream.received.length, 3, "no event sent twice");
  stream.cancel();
});

test.serial("an empty initial state is transferred too", async t => {
  const { gateway, remoteNsm } = await setup(t);
  const stream = openServerStream(gateway.apiAddress, MonitorConnectionService.monitorConnections, seedSelector(remoteNsm));
  const initial = await stream.next();
  t.is(initial.type, ConnectionEventType.INITIAL_STATE_TRANSFER);
  t.deepEqual(initial.connections, {});
  stream.cancel();
});

test.serial("remote NSMgr dies: the client's stream ends with UNAVAILABLE, not OK", async t => {
  const { remote, gateway, remoteNsm } = await setup(t);
  const stream = openServerStream(gateway.apiAddress, MonitorConnectionService.monitorConnections, seedSelector(remoteNsm));
  await stream.next();
  remote.server.kill();
  const end = await stream.status;
  t.is(end.code, status.UNAVAILABLE);
  t.true(end.details.includes(remote.address), end.details);
});

test.serial("client leaves: the upstream stream is cancelled", async t => {
  const { remote, gateway, remoteNsm } = await setup(t);
  const stream = openServerStream(gateway.apiAddress, MonitorConnectionService.monitorConnections, seedSelector(remoteNsm));
  await stream.next();
  t.is(remote.monitorCount(), 1);
  stream.cancel();
  await waitFor(() => remote.monitorCount() === 0, 3000, "the upstream monitor to be cancelled");
  t.deepEqual(gateway.proxy.monitor.upstreamKeys(), []);
});

test.serial("clients asking the same remote share one upstream; a late one starts from the current state", async t => {
  const { remote, gateway, remoteNsm } = await setup(t);
  const first = openServerStream(gateway.apiAddress, MonitorConnectionService.monitorConnections, seedSelector(remoteNsm));
  await first.next();
  const conn = await callUnary(gateway.apiAddress, NetworkServiceService.request, seedRequest(remoteNsm));
  const update = await first.next();
  t.is(update.type, ConnectionEventType.UPDATE);

  const late = openServerStream(gateway.apiAddress, MonitorConnectionService.monitorConnections, seedSelector(remoteNsm));
  const lateInitial = await late.next();
  t.is(lateInitial.type, ConnectionEventType.INITIAL_STATE_TRANSFER);
  t.truthy(lateInitial.connections[conn.id], "the late client sees the connection made before it joined");
  t.is(remote.monitorCount(), 1, "one upstream stream for both clients");

  remote.endpointDies(conn.id);
  t.is((await first.next()).type, ConnectionEventType.DELETE);
  t.is((await late.next()).type, ConnectionEventType.DELETE);
  first.cancel();
  late.cancel();
});

test.serial("bad selectors get INVALID_ARGUMENT", async t => {
  const { gateway } = await setup(t);
  const cases: [MonitorScopeSelector, RegExp][] = [
    [{ pathSegments: [segment("nsmgr-1")], networkServices: [] }, /1 path segment/],
    [{ pathSegments: [], networkServices: [] }, /0 path segment/],
    [seedSelector("nsmgr-2"), /has no "@"/],
  ];
  for (const [selector, message] of cases) {
    const stream = openServerStream(gateway.apiAddress, MonitorConnectionService.monitorConnections, selector);
    const end = await stream.status;
    t.is(end.code, status.INVALID_ARGUMENT);
    t.regex(end.details, message);
  }
});

/** MonitorConnections read with each event's log position (the same bytes decoded twice). */
test.serial("events carry their log position; resuming after one sends what followed it, once, without a new initial state", async t => {
  const { remote, gateway, remoteNsm } = await setup(t);
  const first = openServerStream(gateway.apiAddress, monitorWithPositions, seedSelector(remoteNsm));
  const initial = await first.next();
  const conn = await callUnary(gateway.apiAddress, NetworkServiceService.request, seedRequest(remoteNsm));
  const up = await first.next();
  remote.connectionDown(conn.id);
  const down = await first.next();
  const positions = [initial, up, down].map(r => r.position);
  t.true(positions.every(p => /^\d+-\d+$/.test(p)), positions.join(" "));
  t.is(new Set(positions).size, 3);

  // A second client that was sent `up` and missed `down`.
  const resumed = openServerStream(gateway.apiAddress, monitorWithPositions, seedSelector(remoteNsm), { metadata: { "pnsmgr-resume-after": up.position } });
  const next = await resumed.next();
  t.is(next.position, down.position, "the first event after the position");
  t.is(next.event.type, ConnectionEventType.UPDATE);
  t.is(next.event.connections[conn.id]?.state, 1);
  remote.endpointDies(conn.id);
  t.is((await resumed.next()).event.type, ConnectionEventType.DELETE, "then live");
  t.is((await first.next()).event.type, ConnectionEventType.DELETE);
  await new Promise(r => setTimeout(r, 100));
  t.is(resumed.received.length, 2, "nothing else, nothing twice");
  first.cancel();
  resumed.cancel();
});

test.serial("a resume position that is not one, or that the log has trimmed past, is refused with a reason", async t => {
  const { gateway, remoteNsm } = await setup(t, { state: { kind: "memory", events: { maxLen: 3, maxAgeMs: 3_600_000, trim: "exact" } } });
  const bad = openServerStream(gateway.apiAddress, MonitorConnectionService.monitorConnections, seedSelector(remoteNsm), { metadata: { "pnsmgr-resume-after": "yesterday" } });
  const badEnd = await bad.status;
  t.is(badEnd.code, status.INVALID_ARGUMENT);
  t.regex(badEnd.details, /"yesterday" is not of the form <ms>-<seq>/);

  const stream = openServerStream(gateway.apiAddress, monitorWithPositions, seedSelector(remoteNsm));
  const initial = await stream.next();
  for (let i = 0; i < 4; i++) {
    await callUnary(gateway.apiAddress, NetworkServiceService.request, seedRequest(remoteNsm));
    await stream.next();
  }
  const trimmed = openServerStream(gateway.apiAddress, MonitorConnectionService.monitorConnections, seedSelector(remoteNsm), {
    metadata: { "pnsmgr-resume-after": initial.position },
  });
  const end = await trimmed.status;
  t.is(end.code, status.OUT_OF_RANGE);
  t.regex(end.details, /no longer holds every event after it .*subscribe again without it/);
  stream.cancel();
});
