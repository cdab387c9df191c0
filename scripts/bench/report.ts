/** Turns the bench's measurements into the printed table, the summary lines and the JSON. */
import type { ScenarioSummary } from "./monitor-bench.js";
import { type PerRequest, perRequest } from "./redis.js";
import type { RequestSide, RequestSummary, SideSummary, StoreSide } from "./request-bench.js";
import { fmt, ratio, round, table } from "./stats.js";

export interface BenchResults {
  requests: RequestSummary[];
  monitor: ScenarioSummary[];
  warmFailures: string[];
  /** Why the Redis store sides did not run. */
  redisSkipped?: string;
  machine: { cpus: number; node: string; loadavg: number[] };
  /** pnsmgr's peak resident memory over the whole run. */
  gatewayPeakRssMb: number;
  seconds: number;
}

/** A Redis store side against the in-memory pnsmgr, at one concurrency. */
interface StoreComparison {
  side: StoreSide;
  inFlight: number;
  perRequest: PerRequest;
  /** Store side minus memory (ms), and store / memory throughput, from the medians. */
  vsMemory: { p50DeltaMs: number; p99DeltaMs: number; throughput: number };
}

const signedMs = (v: number) => (Number.isFinite(v) ? `${v < 0 ? "-" : "+"}${fmt.ms(Math.abs(v))}` : "n/a");
const perReq = (v: number) => (Number.isFinite(v) ? v.toFixed(2) : "n/a");

function storeComparisons(requests: readonly RequestSummary[]): StoreComparison[] {
  return requests.flatMap(r =>
    (Object.entries(r.stores) as [StoreSide, SideSummary][]).map(([side, s]) => ({
      side,
      inFlight: r.inFlight,
      perRequest: perRequest(s.counters ?? {}, s.calls),
      vsMemory: {
        p50DeltaMs: round(s.p50Ms - r.proxied.p50Ms),
        p99DeltaMs: round(s.p99Ms - r.proxied.p99Ms),
        throughput: round(ratio(s.reqPerSec, r.proxied.reqPerSec)),
      },
    })),
  );
}

/** e.g. `redis c=1: 1.00 round trips/Request (HSET 1.00), p50 +0.31 ms, p99 +0.80 ms, throughput 0.93x vs memory` */
function storeLine(c: StoreComparison): string {
  const commands = Object.entries(c.perRequest.commands)
    .sort(([, a], [, b]) => b - a)
    .map(([name, n]) => `${name} ${perReq(n)}`)
    .join(", ");
  const versus = `p50 ${signedMs(c.vsMemory.p50DeltaMs)} ms, p99 ${signedMs(c.vsMemory.p99DeltaMs)} ms, throughput ${fmt.x(c.vsMemory.throughput)} vs memory`;
  if (c.inFlight === 1) {
    const aim = c.perRequest.roundTrips <= 1.005 ? "aim <= 1: met" : "aim <= 1: NOT met";
    return `${c.side} c=${c.inFlight}: ${perReq(c.perRequest.roundTrips)} round trips/Request (${commands || "no commands"}; ${aim}), ${versus}`;
  }
  // Requests in flight together share the server's reads, so reads/Request is no round-trip count here.
  return `${c.side} c=${c.inFlight}: ${perReq(c.perRequest.commandsTotal)} commands/Request (${commands || "none"}; ${perReq(c.perRequest.roundTrips)} server reads/Request, shared by concurrent Requests), ${versus}`;
}

export function report(results: BenchResults): { text: string; json: unknown; ok: boolean } {
  const { requests, monitor, machine } = results;
  const sideOf = (r: RequestSummary): [RequestSide, SideSummary][] => [
    ["direct", r.direct],
    ["proxied", r.proxied],
    ...(Object.entries(r.stores) as [StoreSide, SideSummary][]),
  ];
  const failures = [
    ...requests.flatMap(r =>
      sideOf(r).flatMap(([side, s]) => (s.errors > 0 ? [`request c=${r.inFlight} ${side}: ${s.errors} failed calls, first: ${s.firstError}`] : [])),
    ),
    ...monitor.flatMap(s => s.failures.map(f => `monitor ${s.name}: ${f}`)),
    ...results.warmFailures.map(f => `monitor ${f}`),
  ];
  const scenario = (name: string) => monitor.find(s => s.name === name);
  const rate = (name: string) => scenario(name)?.deliveriesPerSec ?? NaN;
  const fanOut = {
    proxied100: rate("proxied x100"),
    direct100: rate("direct x100"),
    direct1: rate("direct x1"),
    proxied1: rate("proxied x1"),
  };
  const fanOutRatios = {
    proxied100VsDirect100: round(ratio(fanOut.proxied100, fanOut.direct100)),
    proxied100VsDirect1: round(ratio(fanOut.proxied100, fanOut.direct1)),
    proxied1VsDirect1: round(ratio(fanOut.proxied1, fanOut.direct1)),
  };

  const stores = storeComparisons(requests);
  const anyStore = stores.length > 0;
  const requestRows = [["in flight", "side", "req/s", "p50 ms", "p99 ms", "errors", "CPU us/call: client", "pnsmgr", "remote", ...(anyStore ? ["redis"] : [])]];
  const sideRow = (r: RequestSummary, side: RequestSide, s: SideSummary) => [
    String(r.inFlight),
    side,
    fmt.rate(s.reqPerSec),
    fmt.ms(s.p50Ms),
    fmt.ms(s.p99Ms),
    String(s.errors),
    fmt.us(s.cpuUsPerCall.client),
    side === "direct" ? "-" : fmt.us(s.cpuUsPerCall.gateway),
    fmt.us(s.cpuUsPerCall.remote),
    ...(anyStore ? [s.cpuUsPerCall.store === undefined ? "-" : fmt.us(s.cpuUsPerCall.store)] : []),
  ];
  const blank = anyStore ? ["", "", "", "", ""] : ["", "", "", ""];
  for (const r of requests) {
    requestRows.push(sideRow(r, "direct", r.direct), sideRow(r, "proxied", r.proxied));
    requestRows.push([String(r.inFlight), "ratio", fmt.x(r.ratio.throughput), fmt.x(r.ratio.p50), fmt.x(r.ratio.p99), ...blank]);
    for (const c of stores.filter(c => c.inFlight === r.inFlight)) {
      requestRows.push(sideRow(r, c.side, r.stores[c.side]!));
      requestRows.push([String(r.inFlight), `  - memory`, fmt.x(c.vsMemory.throughput), signedMs(c.vsMemory.p50DeltaMs), signedMs(c.vsMemory.p99DeltaMs), ...blank]);
    }
  }
  const monitorRows = [["scenario", "subscribers", "events", "deliveries/s", "CPU us/delivery: client", "pnsmgr", "remote", "exactly once, in order"]];
  for (const s of monitor) {
    monitorRows.push([
      s.name,
      String(s.subscribers),
      String(s.events),
      fmt.rate(s.deliveriesPerSec),
      fmt.ms(s.cpuUsPerDelivery.client),
      s.via === "direct" ? "-" : fmt.ms(s.cpuUsPerDelivery.gateway),
      fmt.ms(s.cpuUsPerDelivery.remote),
      s.failures.length === 0 ? "OK" : `FAIL (${s.failures.length})`,
    ]);
  }

  const redisLines = results.redisSkipped !== undefined ? [`redis: SKIPPED: ${results.redisSkipped}`] : stores.map(storeLine);
  const summary = [
    ...requests.map(
      r =>
        `request c=${r.inFlight}: direct ${fmt.rate(r.direct.reqPerSec)} req/s p50 ${fmt.ms(r.direct.p50Ms)} ms p99 ${fmt.ms(r.direct.p99Ms)} ms` +
        ` | proxied ${fmt.rate(r.proxied.reqPerSec)} req/s p50 ${fmt.ms(r.proxied.p50Ms)} ms p99 ${fmt.ms(r.proxied.p99Ms)} ms` +
        ` | ratio throughput ${fmt.x(r.ratio.throughput)} p50 ${fmt.x(r.ratio.p50)} p99 ${fmt.x(r.ratio.p99)}`,
    ),
    ...redisLines,
    `monitor fan-out x100: proxied ${fmt.rate(fanOut.proxied100)} deliveries/s | direct x100 ${fmt.rate(fanOut.direct100)} deliveries/s | direct x1 ${fmt.rate(fanOut.direct1)} events/s` +
      ` | ratio vs direct x100 ${fmt.x(fanOutRatios.proxied100VsDirect100)}, vs direct x1 ${fmt.x(fanOutRatios.proxied100VsDirect1)}` +
      ` | every subscriber every event once, in order: ${monitor.every(s => s.failures.length === 0) ? "OK" : "FAIL"}`,
    `monitor x1: direct ${fmt.rate(fanOut.direct1)} events/s | proxied ${fmt.rate(fanOut.proxied1)} events/s | ratio ${fmt.x(fanOutRatios.proxied1VsDirect1)}`,
    // CPU per unit of work says where the time goes when all three processes share 2 cores, and what
    // pnsmgr alone could do on a core of its own (1e6 / us).
    ...requests.map(
      r =>
        `cpu request c=${r.inFlight}: pnsmgr ${fmt.us(r.proxied.cpuUsPerCall.gateway)} us/call (~${fmt.rate(1e6 / r.proxied.cpuUsPerCall.gateway)} calls/s per core)` +
        ` | client ${fmt.us(r.proxied.cpuUsPerCall.client)} us | remote ${fmt.us(r.proxied.cpuUsPerCall.remote)} us`,
    ),
    ...monitor
      .filter(s => s.via === "proxied")
      .map(
        s =>
          `cpu monitor ${s.name}: pnsmgr ${fmt.ms(s.cpuUsPerDelivery.gateway)} us/delivery (~${fmt.rate(1e6 / s.cpuUsPerDelivery.gateway)} deliveries/s per core)` +
          ` | client ${fmt.ms(s.cpuUsPerDelivery.client)} us | remote ${fmt.ms(s.cpuUsPerDelivery.remote)} us`,
      ),
  ];

  const text = [
    `pnsmgr bench: ${machine.cpus} CPUs, node ${machine.node}, load average ${machine.loadavg.join(" ")}, ${results.seconds} s, pnsmgr peak RSS ${results.gatewayPeakRssMb} MB`,
    "",
    "Request (seed mode, unary /networkservice.NetworkService/Request), median of the phases per side; ratio = proxied / direct",
    ...(anyStore
      ? ["redis = proxied on REDIS_URL, redis+wait = also WAIT for 1 replica per record (Sentinel setup); '- memory': req/s ratio, p50/p99 added (ms), vs proxied"]
      : []),
    table(requestRows),
    "",
    "Monitor fan-out (one burst of UPDATE events per round), median of the rounds",
    table(monitorRows),
    "",
    ...summary,
    ...failures.map(f => `FAIL ${f}`),
  ].join("\n");

  const json = {
    machine,
    seconds: results.seconds,
    gatewayPeakRssMb: results.gatewayPeakRssMb,
    ok: failures.length === 0,
    request: requests,
    redis: results.redisSkipped !== undefined ? { skipped: results.redisSkipped } : { stores },
    monitor: { scenarios: monitor, ratios: fanOutRatios },
    summary,
    failures,
  };
  return { text, json, ok: failures.length === 0 };
}
