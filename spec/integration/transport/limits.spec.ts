/**
 * Bounded resources at the listeners: connections that never finish their HTTP/2 preface are dropped
 * (keepalive), streams per peer and distinct upstream monitor feeds per peer are capped with
 * RESOURCE_EXHAUSTED, and a paused monitor subscriber is ended rather than buffered for.
 */
import test from "ava";
import { status } from "@grpc/grpc-js";
import { connect } from "node:net";
import { HealthCheckResponse_ServingStatus, HealthService } from "../../../generated/nsm/health.js";
import { MonitorConnectionService, type MonitorScopeSelector } from "../../../generated/nsm/connection.js";
import { Client, Metadata, credentials } from "@grpc/grpc-js";
import { callUnary, closeAll, openServerStream } from "../../support/grpc.js";
import { waitFor } from "../../support/wait.js";
import { startTestGateway, stopGateways } from "../../support/gateway.js";
import { startFakeNsmgr } from "../../support/fake-nsmgr.js";
import { serverOptions } from "../../../lib/server.js";
import { testConfig } from "../../support/gateway.js";
import { segment } from "../../support/wire.js";

test.afterEach.always(async () => {
  await stopGateways();
  await closeAll();
});

test("the default listener options ping every 30 s, drop an unanswered ping after 10 s and idle connections after 5 min", t => {
  t.like(serverOptions(testConfig()), { "grpc.keepalive_time_ms": 30_000, "grpc.keepalive_timeout_ms": 10_000, "grpc.max_connection_idle_ms": 300_000 });
});

test.serial("50 connections trickling the HTTP/2 preface a byte at a time are dropped within keepalive time + timeout", async t => {
  const gateway = await startTestGateway({ keepaliveTimeMs: 500, keepaliveTimeoutMs: 500 });
  const [host, port] = [gateway.apiAddress.split(":")[0]!, Number(gateway.apiAddress.split(":")[1])];
  const preface = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
  const started = Date.now();
  const closedAfter: number[] = [];
  const sockets = Array.from({ length: 50 }, () => {
    const socket = connect(port, host);
    let sent = 0;
    const timer = setInterval(() => {
      if (sent < preface.length) socket.write(preface.subarray(sent, ++sent));
    }, 100);
    socket.on("close", () => {
      clearInterval(timer);
      closedAfter.push(Date.now() - started);
    });
    socket.on("error", () => undefined);
    return socket;
  });
  t.teardown(() => sockets.forEach(s => s.destroy()));
  const health = await callUnary(gateway.apiAddress, HealthService.check, { service: "" });
  t.is(health.status, HealthCheckResponse_ServingStatus.SERVING, "real callers are served meanwhile");
  await waitFor(() => closedAfter.length === 50, 4000, `trickling connections dropped (${closedAfter.length})`);
  t.log(`dropped after ${Math.min(...closedAfter)}-${Math.max(...closedAfter)} ms`);
  t.true(Math.max(...closedAfter) < 2500);
});

test.serial("streams per peer: past PNSMGR_MAX_STREAMS_PER_PEER a stream ends with RESOURCE_EXHAUSTED; a closed one frees its place", async t => {
  const gateway = await startTestGateway({ maxStreamsPerPeer: 5 });
  const watches = Array.from({ length: 5 }, () => openServerStream(gateway.apiAddress, HealthService.watch, { service: "" }));
  for (const w of watches) await w.next();
  const sixth = openServerStream(gateway.apiAddress, HealthService.watch, { service: "" });
  const refused = await sixth.status;
  t.is(refused.code, status.RESOURCE_EXHAUSTED);
  t.regex(refused.details, /too many streams/);
  watches[0]!.cancel();
  await new Promise(resolve => setTimeout(resolve, 100));
  const again = openServerStream(gateway.apiAddress, HealthService.watch, { service: "" });
  t.is((await again.next()).status, HealthCheckResponse_ServingStatus.SERVING);
  for (const w of [...watches, again]) w.cancel();
});

test.serial("monitor feeds per peer: past PNSMGR_MAX_FEEDS_PER_PEER distinct selectors RESOURCE_EXHAUSTED, the remote sees at most that many streams", async t => {
  const remote = await startFakeNsmgr({ name: "nsmgr-2" });
  const gateway = await startTestGateway({ maxFeedsPerPeer: 3 });
  const selector = (client: string): MonitorScopeSelector => ({ pathSegments: [segment(client), segment(`nsmgr-2@${remote.address}`)], networkServices: [] });
  const open = ["a", "b", "c"].map(c => openServerStream(gateway.apiAddress, MonitorConnectionService.monitorConnections, selector(`nsmgr-${c}`)));
  for (const s of open) await s.next();
  const sameAgain = openServerStream(gateway.apiAddress, MonitorConnectionService.monitorConnections, selector("nsmgr-a"));
  await sameAgain.next();
  const extra = await Promise.all(Array.from({ length: 20 }, (_, i) => openServerStream(gateway.apiAddress, MonitorConnectionService.monitorConnections, selector(`nsmgr-x${i}`)).status));
  t.true(extra.every(s => s.code === status.RESOURCE_EXHAUSTED), extra.map(s => s.code).join(","));
  t.regex(extra[0]!.details, /PNSMGR_MAX_FEEDS_PER_PEER/);
  t.true(remote.monitorCount() <= 3, `${remote.monitorCount()} upstream monitor streams`);
  for (const s of [...open, sameAgain]) s.cancel();
});

test.serial("a paused monitor subscriber: the proxy stops relaying to it past PNSMGR_MAX_QUEUED_MESSAGES; once it reads again it gets RESOURCE_EXHAUSTED; others keep their stream", async t => {
  t.timeout(60_000);
  const remote = await startFakeNsmgr({ name: "nsmgr-2" });
  const gateway = await startTestGateway({ maxQueuedMessages: 100 });
  const selector: MonitorScopeSelector = { pathSegments: [segment("nsmgr-1"), segment(`nsmgr-2@${remote.address}`)], networkServices: [] };
  const reader = openServerStream(gateway.apiAddress, MonitorConnectionService.monitorConnections, selector);
  await reader.next();
  const client = new Client(gateway.apiAddress, credentials.createInsecure());
  t.teardown(() => client.close());
  const m = MonitorConnectionService.monitorConnections;
  const paused = client.makeServerStreamRequest(m.path, m.requestSerialize, m.responseDeserialize, selector, new Metadata(), { deadline: Date.now() + 50_000 });
  paused.on("error", () => undefined);
  let got = 0;
  paused.on("data", () => {
    if (++got === 1) paused.pause();
  });
  const ended = new Promise<{ code: number; details: string }>(resolve => paused.on("status", resolve));
  await waitFor(() => got === 1, 5000, "the paused client's initial state");
  // Big events: the socket and HTTP/2 windows between proxy and client fill after a few hundred.
  const padding = "p".repeat(8000);
  const sent = 3000;
  for (let i = 0; i < sent; i++) {
    remote.update({ id: `c-${i % 50}`, networkService: padding, mechanism: undefined, context: undefined, labels: {}, path: { index: 0, pathSegments: [segment("nsmgr-1"), segment("nsmgr-2")] }, networkServiceEndpointName: "", payload: "", state: 0 });
    if (i % 100 === 99) await new Promise(resolve => setTimeout(resolve, 5));
  }
  await waitFor(() => reader.received.length > sent, 40_000, `the reading client's events (${reader.received.length})`);
  paused.resume();
  const end = await ended;
  t.log(`the remote sent ${sent} events; the reader got ${reader.received.length - 1}, the paused client ${got - 1} before ${status[end.code]}`);
  t.is(end.code, status.RESOURCE_EXHAUSTED, end.details);
  t.regex(end.details, /reads too slowly/);
  t.true(got < sent / 2, `the paused client was sent ${got} events`);
  reader.cancel();
});
