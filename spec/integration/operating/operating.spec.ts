/**
 * NSM's operating conventions on a real gateway process (lib/main.ts): JSON logs, NSM_LOG_LEVEL and
 * the SIGUSR1/SIGUSR2 switch, an unknown variable named, the effective configuration and every
 * listener as bound, NSM_LISTEN_ON with a tcp and a unix:// address, the Prometheus endpoint with
 * go-grpc-prometheus names, OTLP traces and metrics into a real OTLP/gRPC receiver, W3C trace context
 * passed to the next hop, the profiling endpoint, and the wait for Redis with backoff.
 */
import test from "ava";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NetworkServiceService } from "../../../generated/nsm/networkservice.js";
import { callUnary, closeAll } from "../../support/grpc.js";
import { startFakeV1Nsmgr } from "../../support/fake-v1-nsmgr.js";
import { startFakeNseRegistry } from "../../support/fake-v1-registry-lite.js";
import { startOtlpReceiver } from "../../support/otlp-receiver.js";
import { startRedis, stopAllRedis } from "../../support/redis.js";
import { fwdRequest, fwdToken } from "../connection-v1/_topology.js";
import { killGatewayProcesses, startGatewayProcess } from "../../support/gateway-process.js";
import { startTestGateway, stopGateways } from "../../support/gateway.js";
import { createLogger } from "../../../lib/log.js";
import { createOtelObserver } from "../../../lib/observability/otel-observer.js";
import { createCallContext } from "../../../lib/pipeline/context.js";
import { freePort } from "../../support/ports.js";
import { isTraced, setTracing, traceLine } from "../../../lib/pipeline/trace.js";

const dir = mkdtempSync(join(tmpdir(), "pnsmgr-operating-"));
test.afterEach.always(async () => {
  await killGatewayProcesses();
  await stopGateways();
  setTracing(undefined);
  await closeAll();
  await stopAllRedis();
});
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

interface JsonLine {
  level: string;
  time: string;
  msg: string;
  [field: string]: unknown;
}

const parse = (line: string): JsonLine => JSON.parse(line) as JsonLine;
const has = (msg: string, where: (line: JsonLine) => boolean = () => true) => (line: string) => {
  const parsed = parse(line);
  return parsed.msg === msg && where(parsed);
};

async function get(url: string): Promise<{ status: number; body: string }> {
  const response = await fetch(url);
  return { status: response.status, body: await response.text() };
}

/** Prometheus text: the value of the sample `name` whose labels include every `labels` pair. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split("\n")) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const found = Object.fromEntries([...(match[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map(m => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => found[k] === v)) return Number(match[3]);
  }
  return undefined;
}

test.serial("a gateway process: JSON logs, level switch, unknown variable, listeners, metrics, OTLP traces with trace context, profiles", async t => {
  t.timeout(90_000);
  const receiver = await startOtlpReceiver();
  t.teardown(() => receiver.stop());
  const nsmgr2 = await startFakeV1Nsmgr({ name: "nsmgr-2", endpoints: ["nse"] });
  const registry2 = await startFakeNseRegistry({ nse: nsmgr2.url });
  const socket = join(dir, "v1.sock");
  const gateway = startGatewayProcess({
    PNSMGR_LOG_FORMAT: "json",
    NSM_LOG_LEVEL: "DEBUG",
    PNSMGR_BOGUS_SETTING: "1",
    NSM_NAME: "proxy-2",
    NSM_REGISTRY_URL: registry2.url,
    NSM_LISTEN_ON: `tcp://127.0.0.1:0,unix://${socket}`,
    PNSMGR_METRICS_LISTEN_ON: "127.0.0.1:0",
    TELEMETRY: "true",
    NSM_OPEN_TELEMETRY_ENDPOINT: receiver.address,
    NSM_METRICS_EXPORT_INTERVAL: "300ms",
    NSM_PPROF_ENABLED: "true",
    NSM_PPROF_LISTEN_ON: "127.0.0.1:0",
  });
  const serving = parse(await gateway.waitForLine(has("pnsmgr serving"), 30_000, "pnsmgr serving line"));
  for (const line of gateway.lines()) t.notThrows(() => parse(line), `a JSON line: ${line}`);

  // Start-up reports: the unknown variable by name, the effective configuration, each listener as bound.
  t.truthy(gateway.lines().find(has("unknown variable ignored (a typo?)", l => l.variable === "PNSMGR_BOGUS_SETTING" && l.level === "warn")));
  const configuration = parse(gateway.lines().find(has("configuration"))!);
  t.is(configuration.logLevel, "debug");
  t.is(configuration.openTelemetryEndpoint, receiver.address);
  t.deepEqual(configuration.v1ExtraListenAddresses, [`unix://${socket}`]);
  const listening = gateway.lines().filter(has("listening")).map(parse).map(l => `${String(l.listener)} ${String(l.address)}`);
  t.deepEqual(
    listening.map(l => l.replace(/:\d+$/, ":N")),
    ["connections 127.0.0.1:N", "registry 127.0.0.1:N", "v1 127.0.0.1:N", `v1 unix://${socket}`, "metrics 127.0.0.1:N", "profiling 127.0.0.1:N"],
  );
  t.true(listening.includes(`v1 ${String(serving.v1)}`), "the v1 line names the bound port");
  t.true(listening.every(l => !l.endsWith(":0")), "real ports, not 0");

  // A forwarded Request over the unix socket, with the caller's trace context.
  const callerTrace = "0af7651916cd43dd8448eb211c80319c";
  const callerSpan = "b7ad6b7169203331";
  const answer = await callUnary(`unix://${socket}`, NetworkServiceService.request, fwdRequest({ networkService: "ns", networkServiceEndpointName: "nse" }), {
    metadata: { ...(await fwdToken()), traceparent: `00-${callerTrace}-${callerSpan}-01` },
  });
  t.is(answer.networkServiceEndpointName, "nse");
  const forwarded = nsmgr2.requests[0]!.metadata.get("traceparent") ?? "";
  const [, forwardedTrace, forwardedParent] = forwarded.split("-");
  t.is(forwardedTrace, callerTrace, "the next hop gets the caller's trace id");

  // OTLP: the served and the forwarded Request as spans, parented caller -> server -> client -> next hop.
  const name = "networkservice.NetworkService/Request";
  await receiver.waitFor(() => receiver.spans.filter(s => s.name === name).length >= 2, 15_000, "two Request spans");
  const server = receiver.spans.find(s => s.name === name && s.kind === 2)!;
  const client = receiver.spans.find(s => s.name === name && s.kind === 3)!;
  t.is(server.traceId, callerTrace);
  t.is(server.parentSpanId, callerSpan);
  t.is(client.traceId, callerTrace);
  t.is(client.parentSpanId, server.spanId);
  t.is(forwardedParent, client.spanId, "the next hop's parent is the forwarded call's span");
  t.like(server.attributes, { "rpc.system": "grpc", "rpc.service": "networkservice.NetworkService", "rpc.method": "Request", "rpc.grpc.status_code": 0 });
  t.like(client.attributes, { "rpc.system": "grpc", "server.address": "127.0.0.1", "server.port": Number(nsmgr2.address.split(":")[1]) });
  t.is(server.serviceName, "proxy-2");
  await receiver.waitFor(() => receiver.metricNames.has("grpc_server_handled_total") && receiver.metricNames.has("grpc_client_handled_total"), 15_000, "OTLP metrics");

  // Prometheus scrape: go-grpc-prometheus names and labels.
  const scrape = await get(`http://${String(serving.metrics)}/metrics`);
  t.is(scrape.status, 200);
  const request = { grpc_type: "unary", grpc_service: "networkservice.NetworkService", grpc_method: "Request" };
  t.is(sample(scrape.body, "grpc_server_started_total", request), 1);
  t.is(sample(scrape.body, "grpc_server_handled_total", { ...request, grpc_code: "OK" }), 1);
  t.is(sample(scrape.body, "grpc_server_msg_received_total", request), 1);
  t.is(sample(scrape.body, "grpc_server_msg_sent_total", request), 1);
  t.is(sample(scrape.body, "grpc_server_handling_seconds_count", request), 1);
  t.is(sample(scrape.body, "grpc_server_handling_seconds_bucket", { ...request, le: "+Inf" }), 1);
  t.is(sample(scrape.body, "grpc_client_started_total", request), 1);
  t.is(sample(scrape.body, "grpc_client_handled_total", { ...request, grpc_code: "OK" }), 1);
  t.is(sample(scrape.body, "grpc_client_handling_seconds_count", request), 1);
  t.is(sample(scrape.body, "pnsmgr_upstream_channels", {}), 2, "registry and nsmgr-2");
  t.not(sample(scrape.body, "pnsmgr_connections", { generation: "v0" }), undefined);
  t.notRegex(scrape.body, /grpc_server_started_total_total|otel_scope_name|target_info/);
  t.is((await get(`http://${String(serving.metrics)}/other`)).status, 404);

  // A refused call counts as a refusal.
  await callUnary(String(serving.v1), NetworkServiceService.request, fwdRequest({ networkServiceEndpointName: "" }), { metadata: await fwdToken() }).catch(() => undefined);
  const after = await get(`http://${String(serving.metrics)}/metrics`);
  t.true((sample(after.body, "pnsmgr_refusals_total", { grpc_method: "Request" }) ?? 0) >= 1, "a refusal is counted");

  // SIGUSR1: TRACE (element traces through the logger); SIGUSR2: back to DEBUG.
  let mark = gateway.lines().length;
  gateway.kill("SIGUSR1");
  await gateway.waitForLine(has("log level set", l => l.signal === "SIGUSR1" && l.logLevel === "TRACE"), 5000, "level set by SIGUSR1", mark);
  await callUnary(String(serving.v1), NetworkServiceService.request, fwdRequest({ networkService: "ns", networkServiceEndpointName: "nse" }), { metadata: await fwdToken() });
  const traced = parse(await gateway.waitForLine(line => parse(line).level === "trace", 5000, "a trace-level line", mark));
  t.regex(traced.msg, /^trace \S+ \S+/);
  mark = gateway.lines().length;
  gateway.kill("SIGUSR2");
  await gateway.waitForLine(has("log level set", l => l.signal === "SIGUSR2" && l.logLevel === "DEBUG"), 5000, "level set by SIGUSR2", mark);
  mark = gateway.lines().length;
  await callUnary(String(serving.v1), NetworkServiceService.request, fwdRequest({ networkService: "ns", networkServiceEndpointName: "nse" }), { metadata: await fwdToken() });
  await new Promise(resolve => setTimeout(resolve, 300));
  t.false(gateway.lines().slice(mark).some(line => parse(line).level === "trace"), "no trace lines after SIGUSR2");

  // Profiling: a CPU profile and a heap snapshot of the running gateway.
  const cpu = await get(`http://${String(serving.profiling)}/debug/cpu?seconds=1`);
  t.is(cpu.status, 200);
  const profile = JSON.parse(cpu.body) as { nodes: unknown[]; startTime: number; endTime: number };
  t.true(profile.nodes.length > 0);
  t.true(profile.endTime - profile.startTime >= 900_000, "about a second of profile (microseconds)");
  t.is((await get(`http://${String(serving.profiling)}/debug/cpu?seconds=soon`)).status, 400);
  const heap = await get(`http://${String(serving.profiling)}/debug/heap`);
  t.is(heap.status, 200);
  const snapshot = JSON.parse(heap.body) as { snapshot: { node_count: number }; strings: string[] };
  t.true(snapshot.snapshot.node_count > 1000);
  t.true(snapshot.strings.includes("pnsmgr serving"), "it is this process's heap");

  gateway.kill("SIGTERM");
  t.deepEqual(await gateway.exited, { code: 0, signal: null }, gateway.log());
  for (const line of gateway.lines()) t.notThrows(() => parse(line), `a JSON line: ${line}`);
});

test.serial("Redis not up at start: the gateway logs each try and its backoff, then serves once Redis is there", async t => {
  t.timeout(60_000);
  const redis = await startRedis();
  await redis.kill();
  const gateway = startGatewayProcess({ REDIS_URL: redis.url, NSM_LISTEN_ON: "tcp://127.0.0.1:0" });
  const first = await gateway.waitForLine(line => line.includes(" warn waiting for the state store "), 20_000, "a first waiting line");
  t.regex(first, /attempt=1 .*retryInMs=500 .*error=/);
  await gateway.waitForLine(line => line.includes(" warn waiting for the state store ") && line.includes("attempt=2 "), 20_000, "a second try");
  t.regex(gateway.lines().find(line => line.includes("attempt=2 "))!, /retryInMs=1000/, "the pause doubles");
  await redis.restart();
  await gateway.waitForLine(line => line.includes("pnsmgr serving"), 30_000, "serving once Redis is up");
  t.truthy(gateway.lines().find(line => line.includes(" info state store reachable ")));
  gateway.kill("SIGTERM");
  t.deepEqual(await gateway.exited, { code: 0, signal: null }, gateway.log());
});

test.serial("a gateway given a JSON logger: PNSMGR_TRACE's lines are JSON records; at NSM_LOG_LEVEL=TRACE every element is traced", async t => {
  const lines: string[] = [];
  await startTestGateway({ trace: "route" }, { log: createLogger("info", line => lines.push(line), "json") });
  t.true(isTraced("route"));
  t.false(isTraced("swap-ip"));
  traceLine("0001", "route", "request", "r");
  t.like(parse(lines.at(-1)!), { level: "trace", msg: "trace 0001 route request r" });
  await stopGateways();
  await startTestGateway({}, { log: createLogger("trace", line => lines.push(line), "json") });
  t.true(isTraced("swap-ip"), "TRACE traces every element");
});

test.serial("an OTLP collector that is not there is reported (once a minute per error), not swallowed", async t => {
  const errors: string[] = [];
  const otel = createOtelObserver({ serviceName: "t", prometheus: false, otlp: { endpoint: `127.0.0.1:${await freePort()}`, exportIntervalMs: 200 }, onError: message => errors.push(message) });
  t.teardown(() => otel.shutdown());
  otel.observer.serverCall(createCallContext({ method: "/a.B/C" }), "unary")?.end(0);
  const deadline = Date.now() + 10_000;
  while (errors.length === 0 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 50));
  t.true(errors.length > 0, "an export error was reported");
  t.log(errors[0]);
  await new Promise(resolve => setTimeout(resolve, 1000));
  t.is(new Set(errors).size, errors.length, `each distinct error once: ${errors.join(" | ")}`);
});
