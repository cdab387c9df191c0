/**
 * `npm run bench [-- --json] [-- --cpu-prof]` (`npm run -s bench -- --json` for JSON alone on stdout): what pnsmgr costs, as ratios measured in one run.
 *
 *   1. Request (seed mode), 64 in flight and 1 in flight: direct (client -> fake remote NSMgr) vs
 *      proxied (client -> pnsmgr -> the same fake), throughput and p50/p99 latency.
 *   2. Monitor fan-out: 100 subscribers through pnsmgr sharing one upstream stream, against 1 and 100
 *      subscribers directly on the fake; every subscriber must get every event once, in order.
 *
 * Layout: pnsmgr and the fake remote run as child processes (see bench/children.ts for why), the load
 * generator runs here. Only 127.0.0.1 is dialled. Every phase is bounded by a duration or a count, and
 * a watchdog ends the whole run, so the bench always stops by itself.
 *
 * --json       the results as one JSON object on stdout (progress still goes to stderr)
 * --cpu-prof   run pnsmgr with --cpu-prof; the profile is written to .bench-prof/ when it exits
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { type FakeRemoteProcess, type GatewayProcess, cpuSeconds, peakRssMb, startFakeRemote, startGatewayProcess } from "./bench/children.js";
import { type CpuSnapshot, type RequestSummary, type Side, type Target, runRequestBench } from "./bench/request-bench.js";
import { type Scenario, runMonitorBench } from "./bench/monitor-bench.js";
import { createRequestClient, probe, runRequestLoad } from "./bench/request-load.js";
import { LOCAL_NODE, REMOTE_NODE, directRequest, proxiedRequest } from "./bench/shapes.js";
import { report } from "./bench/report.js";

const args = new Set(process.argv.slice(2));
const asJson = args.has("--json");
const progress = (line: string) => process.stderr.write(`${line}\n`);

/**
 * Sized for a whole run under ~90 s on 2 cores: 3 phases per side per concurrency (a median of 3
 * survives one bad phase), event bursts large enough to last seconds, not milliseconds.
 */
const PLAN = {
  warmupMs: 1000,
  request: [
    { inFlight: 64, phaseMs: 2000, rounds: 3 },
    { inFlight: 1, phaseMs: 1500, rounds: 3 },
  ],
  monitor: {
    rounds: 2,
    timeoutMs: 20_000,
    scenarios: [
      { name: "direct x1", via: "direct", subscribers: 1, events: 20_000 },
      { name: "proxied x1", via: "proxied", subscribers: 1, events: 10_000 },
      { name: "proxied x100", via: "proxied", subscribers: 100, events: 1_000 },
      { name: "direct x100", via: "direct", subscribers: 100, events: 1_000 },
    ] satisfies Scenario[],
  },
  watchdogMs: 150_000,
};

async function main(): Promise<number> {
  const watchdog = setTimeout(() => {
    progress(`FAIL bench did not finish within ${PLAN.watchdogMs / 1000} s`);
    process.exit(1);
  }, PLAN.watchdogMs);
  watchdog.unref();

  const started = performance.now();
  const dir = mkdtempSync(join(tmpdir(), "pnsmgr-bench-"));
  let fake: FakeRemoteProcess | undefined;
  let gateway: GatewayProcess | undefined;
  const clients: ReturnType<typeof createRequestClient>[] = [];
  try {
    // The node map lets the proxied Request run the full src_ip swap, as in a configured cluster.
    const nodeMap = join(dir, "nodes.yaml");
    writeFileSync(nodeMap, `nodes:\n  - name: ${LOCAL_NODE.name}\n    internalIP: ${LOCAL_NODE.internalIP}\n    externalIP: ${LOCAL_NODE.externalIP}\n`);
    fake = await startFakeRemote();
    const fakePort = fake.address.slice(fake.address.lastIndexOf(":") + 1);
    gateway = await startGatewayProcess(
      {
        PROXY_NSMD_API_ADDRESS: "127.0.0.1:0",
        PROXY_NSMD_K8S_ADDRESS: "127.0.0.1:0",
        NSM_LISTEN_ON: "tcp://127.0.0.1:0",
        // The remote's ClusterInfo is on the fake's port, so the dst_ip lookup succeeds and is cached
        // after the first call, as against a real remote proxy.
        PROXY_NSMD_K8S_REMOTE_PORT: fakePort,
        PNSMGR_NODE_MAP_FILE: nodeMap,
      },
      args.has("--cpu-prof") ? ["--cpu-prof", "--cpu-prof-dir=.bench-prof"] : [],
    );
    progress(`fake remote NSMgr pid ${fake.pid} at ${fake.address}; pnsmgr pid ${gateway.pid} at ${gateway.apiAddress}`);

    const directClient = createRequestClient(fake.address);
    const proxiedClient = createRequestClient(gateway.apiAddress);
    clients.push(directClient, proxiedClient);
    const targets: Record<Side, Target> = {
      direct: { client: directClient, request: directRequest() },
      proxied: { client: proxiedClient, request: proxiedRequest(fake.address) },
    };
    await probe(directClient, targets.direct.request);
    const answer = await probe(proxiedClient, targets.proxied.request);
    const params = answer.mechanism?.parameters ?? {};
    if (params.dst_ip !== REMOTE_NODE.externalIP || params.src_ip !== LOCAL_NODE.internalIP) {
      progress(`WARN proxied answer not rewritten as expected (dst_ip ${params.dst_ip}, src_ip ${params.src_ip}): figures may not reflect the production path`);
    }

    const { pid: gatewayPid } = gateway;
    const { pid: fakePid } = fake;
    const cpu = (): CpuSnapshot => {
      const own = process.cpuUsage();
      return { client: (own.user + own.system) / 1e6, gateway: cpuSeconds(gatewayPid), remote: cpuSeconds(fakePid) };
    };

    progress(`pnsmgr RSS at start ${peakRssMb(gatewayPid)} MB (peak so far)`);
    // Warm-up: JIT, channels connected, pnsmgr's caches filled; not reported.
    progress(`warm-up ${PLAN.warmupMs} ms per side`);
    for (const side of ["direct", "proxied"] as const) await runRequestLoad(targets[side].client, targets[side].request, 64, PLAN.warmupMs);

    const requests: RequestSummary[] = [];
    for (const step of PLAN.request) {
      progress(`request, ${step.inFlight} in flight, ${step.rounds} x ${step.phaseMs} ms per side, alternating`);
      requests.push(await runRequestBench({ targets, ...step, cpu, progress }));
    }

    // Every proxied Request leaves a connection record (no Close is sent), so memory here includes them.
    progress(`pnsmgr peak RSS after Requests ${peakRssMb(gatewayPid)} MB`);
    const monitorClients = { direct: directClient, proxied: proxiedClient };
    progress("monitor warm-up");
    const warm = await runMonitorBench({
      clients: monitorClients,
      fake,
      scenarios: PLAN.monitor.scenarios.map(s => ({ ...s, events: 200 })),
      rounds: 1,
      timeoutMs: PLAN.monitor.timeoutMs,
      cpu,
      progress: () => undefined,
    });
    progress(`monitor fan-out, ${PLAN.monitor.rounds} rounds, alternating`);
    const monitor = await runMonitorBench({ clients: monitorClients, fake, ...PLAN.monitor, cpu, progress });
    const warmFailures = warm.flatMap(s => s.failures.map(f => `${s.name} warm-up ${f}`));

    const result = report({
      requests,
      monitor,
      warmFailures,
      machine: { cpus: cpus().length, node: process.version, loadavg: loadavg().map(v => Math.round(v * 100) / 100) },
      gatewayPeakRssMb: peakRssMb(gatewayPid),
      seconds: Math.round((performance.now() - started) / 100) / 10,
    });
    process.stdout.write(asJson ? `${JSON.stringify(result.json, null, 2)}\n` : `${result.text}\n`);
    if (!result.ok) progress("FAIL see above");
    return result.ok ? 0 : 1;
  } finally {
    for (const client of clients) client.close();
    await Promise.all([gateway?.stop(), fake?.stop()]);
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  code => process.exit(code),
  (error: unknown) => {
    progress(`FAIL bench: ${(error as Error).stack ?? String(error)}`);
    process.exit(1);
  },
);
