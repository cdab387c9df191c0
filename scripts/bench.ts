/**
 * `npm run bench [-- --json] [-- --cpu-prof]` (`npm run -s bench -- --json` for JSON alone on stdout): what pnsmgr costs, as ratios measured in one run.
 *
 *   1. Request (seed mode), 64 in flight and 1 in flight: direct (client -> fake remote NSMgr) vs
 *      proxied (client -> pnsmgr -> the same fake), throughput and p50/p99 latency. The same proxied
 *      Request also through a pnsmgr on the Redis store (REDIS_URL at a redis-server the bench
 *      starts), and one whose record writes WAIT for a Redis replica (as with Sentinel in
 *      manifests/): the added p50/p99 against the in-memory store, and Redis commands and round
 *      trips per Request (bench/redis.ts). Without redis-server this part is SKIPPED, with the reason.
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
import { type CpuSnapshot, type RequestSide, type RequestSummary, type Side, type StoreSide, type Target, runRequestBench } from "./bench/request-bench.js";
import { type BenchRedis, redisUnavailable, startBenchRedis } from "./bench/redis.js";
import { type Scenario, runMonitorBench } from "./bench/monitor-bench.js";
import { createRequestClient, probe, runRequestLoad } from "./bench/request-load.js";
import { LOCAL_NODE, REMOTE_NODE, directRequest, proxiedRequest } from "./bench/shapes.js";
import { report } from "./bench/report.js";

const args = new Set(process.argv.slice(2));
const asJson = args.has("--json");
const progress = (line: string) => process.stderr.write(`${line}\n`);

/**
 * Sized for a whole run under ~90 s on 2 cores (4 Request sides with Redis): 3 or 4 phases per side
 * per concurrency (a median survives one bad phase), event bursts large enough to last seconds, not
 * milliseconds. The watchdog keeps the whole run under two minutes.
 */
const PLAN = {
  warmupMs: 1000,
  request: [
    { inFlight: 64, phaseMs: 2000, rounds: 3 },
    // An even number of rounds puts every side first as often as last; c=1 is where the Redis
    // store's added latency and round trips are read, so it gets the extra round.
    { inFlight: 1, phaseMs: 1500, rounds: 4 },
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
  /** The Redis store sides; their pnsmgr differ from the in-memory one only in this env. */
  stores: {
    redis: { replica: false, env: {} },
    "redis+wait": { replica: true, env: { PNSMGR_REDIS_WAIT_REPLICAS: "1" } },
  } satisfies Record<StoreSide, { replica: boolean; env: Record<string, string> }>,
  watchdogMs: 115_000,
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
  const storeGateways: Partial<Record<StoreSide, GatewayProcess>> = {};
  const redisServers: BenchRedis[] = [];
  const clients: ReturnType<typeof createRequestClient>[] = [];
  try {
    // The node map lets the proxied Request run the full src_ip swap, as in a configured cluster.
    const nodeMap = join(dir, "nodes.yaml");
    writeFileSync(nodeMap, `nodes:\n  - name: ${LOCAL_NODE.name}\n    internalIP: ${LOCAL_NODE.internalIP}\n    externalIP: ${LOCAL_NODE.externalIP}\n`);
    fake = await startFakeRemote();
    const fakePort = fake.address.slice(fake.address.lastIndexOf(":") + 1);
    const gatewayEnv = {
      PROXY_NSMD_API_ADDRESS: "127.0.0.1:0",
      PROXY_NSMD_K8S_ADDRESS: "127.0.0.1:0",
      NSM_LISTEN_ON: "tcp://127.0.0.1:0",
      // The remote's ClusterInfo is on the fake's port, so the dst_ip lookup succeeds and is cached
      // after the first call, as against a real remote proxy.
      PROXY_NSMD_K8S_REMOTE_PORT: fakePort,
      PNSMGR_NODE_MAP_FILE: nodeMap,
    };
    gateway = await startGatewayProcess(gatewayEnv, args.has("--cpu-prof") ? ["--cpu-prof", "--cpu-prof-dir=.bench-prof"] : []);
    if (gateway.store !== "memory") throw new Error(`the in-memory pnsmgr reports store ${gateway.store}`);
    progress(`fake remote NSMgr pid ${fake.pid} at ${fake.address}; pnsmgr pid ${gateway.pid} at ${gateway.apiAddress}`);

    // The Redis store sides: a redis-server (and a replica for WAIT) each, and a pnsmgr on it.
    const redisSkipped = redisUnavailable();
    const storeSides: StoreSide[] = [];
    const redisOf = new Map<StoreSide, BenchRedis>();
    if (redisSkipped !== undefined) {
      progress(`SKIPPED redis: ${redisSkipped}`);
    } else {
      await Promise.all(
        (Object.entries(PLAN.stores) as [StoreSide, (typeof PLAN.stores)[StoreSide]][]).map(async ([side, plan]) => {
          const redis = await startBenchRedis({ replica: plan.replica });
          redisServers.push(redis);
          redisOf.set(side, redis);
          const started = await startGatewayProcess({ ...gatewayEnv, REDIS_URL: redis.url, ...plan.env }, [], `pnsmgr ${side}`);
          storeGateways[side] = started;
          if (!started.store.startsWith("redis")) throw new Error(`the ${side} pnsmgr reports store ${started.store}`);
          progress(`pnsmgr (${side}) pid ${started.pid} at ${started.apiAddress}, store ${started.store}${plan.replica ? " with a replica" : ""}`);
        }),
      );
      storeSides.push(...(Object.keys(PLAN.stores) as StoreSide[]));
    }

    const directClient = createRequestClient(fake.address);
    const proxiedClient = createRequestClient(gateway.apiAddress);
    clients.push(directClient, proxiedClient);
    const targets: Record<Side, Target> & Partial<Record<StoreSide, Target>> = {
      direct: { client: directClient, request: directRequest() },
      proxied: { client: proxiedClient, request: proxiedRequest(fake.address) },
    };
    for (const side of storeSides) {
      const started = storeGateways[side]!;
      const redis = redisOf.get(side)!;
      const client = createRequestClient(started.apiAddress);
      clients.push(client);
      targets[side] = { client, request: proxiedRequest(fake.address), measure: run => redis.measure(run) };
    }
    await probe(directClient, targets.direct.request);
    for (const side of ["proxied", ...storeSides] as const) {
      const answer = await probe(targets[side]!.client, targets[side]!.request);
      const params = answer.mechanism?.parameters ?? {};
      if (params.dst_ip !== REMOTE_NODE.externalIP || params.src_ip !== LOCAL_NODE.internalIP) {
        progress(`WARN ${side} answer not rewritten as expected (dst_ip ${params.dst_ip}, src_ip ${params.src_ip}): figures may not reflect the production path`);
      }
    }

    const { pid: gatewayPid } = gateway;
    const { pid: fakePid } = fake;
    const cpu = (side: RequestSide): CpuSnapshot => {
      const own = process.cpuUsage();
      const store = side === "direct" || side === "proxied" ? undefined : redisOf.get(side);
      const pid = side === "direct" || side === "proxied" ? gatewayPid : (storeGateways[side]?.pid ?? gatewayPid);
      return {
        client: (own.user + own.system) / 1e6,
        gateway: cpuSeconds(pid),
        remote: cpuSeconds(fakePid),
        ...(store ? { store: store.servers.reduce((sum, s) => sum + cpuSeconds(s.pid() ?? -1), 0) } : {}),
      };
    };

    progress(`pnsmgr RSS at start ${peakRssMb(gatewayPid)} MB (peak so far)`);
    // Warm-up: JIT, channels connected, pnsmgr's caches filled; not reported.
    progress(`warm-up ${PLAN.warmupMs} ms per side`);
    for (const side of ["direct", "proxied", ...storeSides] as const) await runRequestLoad(targets[side]!.client, targets[side]!.request, 64, PLAN.warmupMs);

    const requests: RequestSummary[] = [];
    for (const step of PLAN.request) {
      progress(`request, ${step.inFlight} in flight, ${step.rounds} x ${step.phaseMs} ms per side, alternating`);
      requests.push(await runRequestBench({ targets, ...step, cpu, progress }));
    }

    // Every proxied Request leaves a connection record (no Close is sent), so memory here includes them.
    progress(`pnsmgr peak RSS after Requests ${peakRssMb(gatewayPid)} MB`);
    const monitorClients = { direct: directClient, proxied: proxiedClient };
    const monitorCpu = () => cpu("proxied");
    progress("monitor warm-up");
    const warm = await runMonitorBench({
      clients: monitorClients,
      fake,
      scenarios: PLAN.monitor.scenarios.map(s => ({ ...s, events: 200 })),
      rounds: 1,
      timeoutMs: PLAN.monitor.timeoutMs,
      cpu: monitorCpu,
      progress: () => undefined,
    });
    progress(`monitor fan-out, ${PLAN.monitor.rounds} rounds, alternating`);
    const monitor = await runMonitorBench({ clients: monitorClients, fake, ...PLAN.monitor, cpu: monitorCpu, progress });
    const warmFailures = warm.flatMap(s => s.failures.map(f => `${s.name} warm-up ${f}`));

    const result = report({
      requests,
      monitor,
      warmFailures,
      ...(redisSkipped === undefined ? {} : { redisSkipped }),
      machine: { cpus: cpus().length, node: process.version, loadavg: loadavg().map(v => Math.round(v * 100) / 100) },
      gatewayPeakRssMb: peakRssMb(gatewayPid),
      seconds: Math.round((performance.now() - started) / 100) / 10,
    });
    process.stdout.write(asJson ? `${JSON.stringify(result.json, null, 2)}\n` : `${result.text}\n`);
    if (!result.ok) progress("FAIL see above");
    return result.ok ? 0 : 1;
  } finally {
    for (const client of clients) client.close();
    await Promise.all([gateway?.stop(), fake?.stop(), ...Object.values(storeGateways).map(g => g.stop())]);
    await Promise.all(redisServers.map(r => r.stop()));
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
