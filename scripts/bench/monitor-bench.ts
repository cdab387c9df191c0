/**
 * Monitor fan-out scenarios, each a fixed burst of events (a fixed count, so a run always ends and a
 * missing event shows up as a count that never completes). The scenarios run in alternating order
 * round by round, like the Request phases, and each reports the median of its rounds.
 *
 *   direct x1      1 subscriber on the fake remote: the raw cost of one grpc-js stream
 *   proxied x1     1 subscriber through pnsmgr: the per-event cost of relaying
 *   proxied x100   100 subscribers through pnsmgr, one shared upstream stream, each event encoded once
 *   direct x100    100 subscribers on the fake remote, which (a plain grpc-js server) encodes per stream
 */
import type { Client } from "@grpc/grpc-js";
import type { FakeRemoteProcess } from "./children.js";
import { runFanOut } from "./monitor-load.js";
import type { CpuSnapshot, Side } from "./request-bench.js";
import { BENCH_REMOTE_NAME, monitorSelector } from "./shapes.js";
import { median, round } from "./stats.js";

export interface Scenario {
  readonly name: string;
  readonly via: Side;
  readonly subscribers: number;
  readonly events: number;
}

export interface ScenarioSummary extends Scenario {
  /** Events received across all subscribers per second (median of rounds). */
  deliveriesPerSec: number;
  /** CPU microseconds per delivery, per process (median of rounds). */
  cpuUsPerDelivery: CpuSnapshot;
  rounds: { deliveriesPerSec: number; seconds: number }[];
  failures: string[];
}

export interface MonitorBenchOptions {
  clients: Record<Side, Client>;
  fake: FakeRemoteProcess;
  scenarios: readonly Scenario[];
  rounds: number;
  timeoutMs: number;
  cpu: () => CpuSnapshot;
  progress: (line: string) => void;
}

export async function runMonitorBench(options: MonitorBenchOptions): Promise<ScenarioSummary[]> {
  const { clients, fake, scenarios, rounds, timeoutMs, cpu, progress } = options;
  // Path segment 1 as each side's client writes it, and as every event must come back.
  const segment1: Record<Side, string> = { direct: BENCH_REMOTE_NAME, proxied: `${BENCH_REMOTE_NAME}@${fake.address}` };
  const runs = new Map<Scenario, { deliveriesPerSec: number; seconds: number; cpu: CpuSnapshot }[]>(scenarios.map(s => [s, []]));
  const failures = new Map<Scenario, string[]>(scenarios.map(s => [s, []]));

  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? scenarios : [...scenarios].reverse();
    for (const scenario of order) {
      const before = cpu();
      const result = await runFanOut({
        client: clients[scenario.via],
        selector: monitorSelector(segment1[scenario.via]),
        subscribers: scenario.subscribers,
        events: scenario.events,
        segment1: segment1[scenario.via],
        // Through pnsmgr the fake sees one stream, however many subscribers: that is the sharing.
        emit: () => fake.emit(scenario.events, scenario.via === "proxied" ? 1 : scenario.subscribers),
        timeoutMs,
      });
      const after = cpu();
      const perDelivery = (k: "client" | "gateway" | "remote") => (result.deliveries > 0 ? Math.round(((after[k] - before[k]) / result.deliveries) * 1e6 * 100) / 100 : NaN);
      runs.get(scenario)?.push({
        deliveriesPerSec: result.deliveriesPerSecond,
        seconds: result.seconds,
        cpu: { client: perDelivery("client"), gateway: perDelivery("gateway"), remote: perDelivery("remote") },
      });
      failures.get(scenario)?.push(...result.failures.map(f => `round ${r + 1}: ${f}`));
      progress(
        `  monitor ${scenario.name.padEnd(12)} round ${r + 1}/${rounds}: ${Math.round(result.deliveriesPerSecond)} deliveries/s ` +
          `(${result.deliveries} in ${result.seconds.toFixed(2)} s)${result.failures.length ? `, ${result.failures.length} FAILED subscriber(s)` : ""}`,
      );
    }
  }

  return scenarios.map(scenario => {
    const list = runs.get(scenario) ?? [];
    const med = (f: (run: (typeof list)[number]) => number) => round(median(list.map(f)));
    return {
      ...scenario,
      deliveriesPerSec: med(run => run.deliveriesPerSec),
      cpuUsPerDelivery: { client: med(run => run.cpu.client), gateway: med(run => run.cpu.gateway), remote: med(run => run.cpu.remote) },
      rounds: list.map(run => ({ deliveriesPerSec: round(run.deliveriesPerSec), seconds: round(run.seconds) })),
      failures: failures.get(scenario) ?? [],
    };
  });
}
