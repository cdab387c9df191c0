/**
 * Request throughput and latency, direct vs proxied, at one concurrency. Phases alternate in ABBA
 * order (direct, proxied | proxied, direct | ...) and each side reports the median of its phases:
 * on a noisy 2-core machine the background load drifts over seconds, and alternating makes the drift
 * hit both sides alike instead of whichever ran last.
 */
import type { Client } from "@grpc/grpc-js";
import type { NetworkServiceRequest } from "../../generated/nsm/networkservice.js";
import { runRequestLoad } from "./request-load.js";
import { median, percentile, ratio, round } from "./stats.js";

export type Side = "direct" | "proxied";

export interface Target {
  readonly client: Client;
  readonly request: NetworkServiceRequest;
}

/** CPU seconds used so far by each process of the run. */
export interface CpuSnapshot {
  client: number;
  gateway: number;
  remote: number;
}

export interface PhaseResult {
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  calls: number;
  errors: number;
  /** CPU microseconds per successful call, per process (10 ms /proc resolution: rough at low rates). */
  cpuUsPerCall: CpuSnapshot;
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
}

export interface RequestBenchOptions {
  targets: Record<Side, Target>;
  inFlight: number;
  phaseMs: number;
  /** Phases per side. */
  rounds: number;
  cpu: () => CpuSnapshot;
  progress: (line: string) => void;
}

export async function runRequestBench(options: RequestBenchOptions): Promise<RequestSummary> {
  const { targets, inFlight, phaseMs, rounds, cpu, progress } = options;
  const phases: Record<Side, PhaseResult[]> = { direct: [], proxied: [] };
  const firstError: Partial<Record<Side, string>> = {};
  for (let r = 0; r < rounds; r++) {
    const order: Side[] = r % 2 === 0 ? ["direct", "proxied"] : ["proxied", "direct"];
    for (const side of order) {
      const before = cpu();
      const load = await runRequestLoad(targets[side].client, targets[side].request, inFlight, phaseMs);
      const after = cpu();
      const perCall = (k: keyof CpuSnapshot) => (load.calls > 0 ? Math.round(((after[k] - before[k]) / load.calls) * 1e6) : NaN);
      const phase: PhaseResult = {
        reqPerSec: load.calls / load.seconds,
        p50Ms: percentile(load.latenciesMs, 50),
        p99Ms: percentile(load.latenciesMs, 99),
        calls: load.calls,
        errors: load.errors,
        cpuUsPerCall: { client: perCall("client"), gateway: perCall("gateway"), remote: perCall("remote") },
      };
      phases[side].push(phase);
      if (load.firstError !== undefined) firstError[side] ??= load.firstError;
      progress(`  c=${inFlight} ${side.padEnd(7)} round ${r + 1}/${rounds}: ${Math.round(phase.reqPerSec)} req/s, p50 ${phase.p50Ms.toFixed(3)} ms, p99 ${phase.p99Ms.toFixed(3)} ms${load.errors ? `, ${load.errors} errors` : ""}`);
    }
  }
  const summarize = (side: Side): SideSummary => {
    const list = phases[side];
    const med = (f: (p: PhaseResult) => number) => round(median(list.map(f)));
    return {
      reqPerSec: med(p => p.reqPerSec),
      p50Ms: med(p => p.p50Ms),
      p99Ms: med(p => p.p99Ms),
      calls: list.reduce((n, p) => n + p.calls, 0),
      errors: list.reduce((n, p) => n + p.errors, 0),
      cpuUsPerCall: { client: med(p => p.cpuUsPerCall.client), gateway: med(p => p.cpuUsPerCall.gateway), remote: med(p => p.cpuUsPerCall.remote) },
      phases: list.map(p => ({ ...p, reqPerSec: round(p.reqPerSec), p50Ms: round(p.p50Ms), p99Ms: round(p.p99Ms) })),
      ...(firstError[side] === undefined ? {} : { firstError: firstError[side] }),
    };
  };
  const direct = summarize("direct");
  const proxied = summarize("proxied");
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
  };
}
