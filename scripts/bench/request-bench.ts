/**
 * Request throughput and latency, direct vs proxied (and proxied with the Redis store, when given),
 * at one concurrency. Phases alternate in ABBA order (direct, proxied, redis | redis, proxied, direct
 * | ...) and each side reports the median of its phases: on a noisy 2-core machine the background
 * load drifts over seconds, and alternating makes the drift hit every side alike instead of whichever
 * ran last.
 */
import type { Client } from "@grpc/grpc-js";
import type { NetworkServiceRequest } from "../../generated/nsm/networkservice.js";
import { runRequestLoad } from "./request-load.js";
import { median, percentile, ratio, round } from "./stats.js";

export type Side = "direct" | "proxied";
/** Proxied through a pnsmgr on the Redis store: plain REDIS_URL, and with WAIT for one replica. */
export type StoreSide = "redis" | "redis+wait";
export type RequestSide = Side | StoreSide;

export interface Target {
  readonly client: Client;
  readonly request: NetworkServiceRequest;
  /** Runs a phase and returns counters (Redis commands, reads) over it. */
  readonly measure?: <T>(run: () => Promise<T>) => Promise<{ result: T; counters: Record<string, number> }>;
}

/** CPU seconds used so far by each process of the run (for one side: the pnsmgr and Redis it uses). */
export interface CpuSnapshot {
  client: number;
  gateway: number;
  remote: number;
  /** The side's redis-server(s). */
  store?: number;
}

export interface PhaseResult {
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  calls: number;
  errors: number;
  /** CPU microseconds per successful call, per process (10 ms /proc resolution: rough at low rates). */
  cpuUsPerCall: CpuSnapshot;
  /** Counter deltas over the phase (targets with `measure`). */
  counters?: Record<string, number>;
}

export interface SideSummary extends PhaseResult {
  phases: PhaseResult[];
  firstError?: string;
}

export interface RequestSummary {
  inFlight: number;
  phaseMs: number;
  direct: SideSummary;
  proxied: SideSummary;
  /** proxied / direct, from the medians. */
  ratio: { throughput: number; p50: number; p99: number };
  /** Proxied on the Redis store, for the store sides that ran; `counters` summed over the phases. */
  stores: Partial<Record<StoreSide, SideSummary>>;
}

export interface RequestBenchOptions {
  targets: Record<Side, Target> & Partial<Record<StoreSide, Target>>;
  inFlight: number;
  phaseMs: number;
  /** Phases per side. */
  rounds: number;
  cpu: (side: RequestSide) => CpuSnapshot;
  progress: (line: string) => void;
}

const SIDES: readonly RequestSide[] = ["direct", "proxied", "redis", "redis+wait"];

export async function runRequestBench(options: RequestBenchOptions): Promise<RequestSummary> {
  const { targets, inFlight, phaseMs, rounds, cpu, progress } = options;
  const sides = SIDES.filter(side => targets[side] !== undefined);
  const phases: Partial<Record<RequestSide, PhaseResult[]>> = {};
  const firstError: Partial<Record<RequestSide, string>> = {};
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? sides : [...sides].reverse();
    for (const side of order) {
      const target = targets[side]!;
      const phaseRun = async () => {
        const before = cpu(side);
        const load = await runRequestLoad(target.client, target.request, inFlight, phaseMs);
        return { load, before, after: cpu(side) };
      };
      const { result, counters } = target.measure ? await target.measure(phaseRun) : { result: await phaseRun(), counters: undefined };
      const { load, before, after } = result;
      const perCall = (k: keyof CpuSnapshot) => (load.calls > 0 ? Math.round((((after[k] ?? NaN) - (before[k] ?? NaN)) / load.calls) * 1e6) : NaN);
      const phase: PhaseResult = {
        reqPerSec: load.calls / load.seconds,
        p50Ms: percentile(load.latenciesMs, 50),
        p99Ms: percentile(load.latenciesMs, 99),
        calls: load.calls,
        errors: load.errors,
        cpuUsPerCall: {
          client: perCall("client"),
          gateway: perCall("gateway"),
          remote: perCall("remote"),
          ...(before.store === undefined ? {} : { store: perCall("store") }),
        },
        ...(counters === undefined ? {} : { counters }),
      };
      (phases[side] ??= []).push(phase);
      if (load.firstError !== undefined) firstError[side] ??= load.firstError;
      progress(`  c=${inFlight} ${side.padEnd(10)} round ${r + 1}/${rounds}: ${Math.round(phase.reqPerSec)} req/s, p50 ${phase.p50Ms.toFixed(3)} ms, p99 ${phase.p99Ms.toFixed(3)} ms${load.errors ? `, ${load.errors} errors` : ""}`);
    }
  }
  const summarize = (side: RequestSide): SideSummary => {
    const list = phases[side] ?? [];
    const med = (f: (p: PhaseResult) => number) => round(median(list.map(f)));
    const counters: Record<string, number> = {};
    for (const p of list) for (const [k, v] of Object.entries(p.counters ?? {})) counters[k] = (counters[k] ?? 0) + v;
    const hasStore = list.some(p => p.cpuUsPerCall.store !== undefined);
    return {
      reqPerSec: med(p => p.reqPerSec),
      p50Ms: med(p => p.p50Ms),
      p99Ms: med(p => p.p99Ms),
      calls: list.reduce((n, p) => n + p.calls, 0),
      errors: list.reduce((n, p) => n + p.errors, 0),
      cpuUsPerCall: {
        client: med(p => p.cpuUsPerCall.client),
        gateway: med(p => p.cpuUsPerCall.gateway),
        remote: med(p => p.cpuUsPerCall.remote),
        ...(hasStore ? { store: med(p => p.cpuUsPerCall.store ?? NaN) } : {}),
      },
      ...(list.some(p => p.counters !== undefined) ? { counters } : {}),
      phases: list.map(p => ({ ...p, reqPerSec: round(p.reqPerSec), p50Ms: round(p.p50Ms), p99Ms: round(p.p99Ms) })),
      ...(firstError[side] === undefined ? {} : { firstError: firstError[side] }),
    };
  };
  const direct = summarize("direct");
  const proxied = summarize("proxied");
  const stores: Partial<Record<StoreSide, SideSummary>> = {};
  for (const side of ["redis", "redis+wait"] as const) if (targets[side]) stores[side] = summarize(side);
  return {
    inFlight,
    phaseMs,
    direct,
    proxied,
    ratio: {
      throughput: round(ratio(proxied.reqPerSec, direct.reqPerSec)),
      p50: round(ratio(proxied.p50Ms, direct.p50Ms)),
      p99: round(ratio(proxied.p99Ms, direct.p99Ms)),
    },
    stores,
  };
}
