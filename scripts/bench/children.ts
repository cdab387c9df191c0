/**
 * The bench's child processes: pnsmgr exactly as operators run it (`node --import tsx lib/main.ts`,
 * configured by environment) and the fake remote NSMgr. Why children and not in-process servers: on a
 * 2-core machine the load generator, the proxy and the remote would otherwise share one event loop,
 * and every figure would measure that loop's contention rather than the proxy. As separate processes
 * each gets its own loop and the OS spreads them over the cores, as in a cluster.
 *
 * Every child is SIGKILLed when the bench exits, however it exits (process 'exit' runs on errors,
 * process.exit and the signals the bench turns into exits).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createInterface, type Interface } from "node:readline";
import { LOOPBACK_ENV } from "../../spec/support/loopback.js";

const children = new Set<ChildProcess>();
process.on("exit", () => {
  for (const child of children) child.kill("SIGKILL");
});
for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => process.exit(130));

const ROOT = new URL("../../", import.meta.url).pathname;

function spawnTs(script: string, env: NodeJS.ProcessEnv, nodeArgs: string[] = [], scriptArgs: string[] = []): ChildProcess {
  const child = spawn(process.execPath, [...nodeArgs, "--import", "tsx", script, ...scriptArgs], { cwd: ROOT, env, stdio: ["pipe", "pipe", "pipe"] });
  children.add(child);
  child.on("exit", () => children.delete(child));
  return child;
}

/** Resolves with the first line matching `pattern`, rejects if the child exits or `timeoutMs` passes first. */
function waitForLine(lines: Interface, child: ChildProcess, pattern: RegExp, what: string, timeoutMs = 20_000): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    const seen: string[] = [];
    const timer = setTimeout(() => finish(new Error(`${what}: no "${pattern.source}" line within ${timeoutMs} ms; output:\n${seen.join("\n")}`)), timeoutMs);
    const onLine = (line: string) => {
      seen.push(line);
      const match = pattern.exec(line);
      if (match) finish(undefined, match);
    };
    const onExit = (code: number | null) => finish(new Error(`${what} exited (code ${code}) before it was ready; output:\n${seen.join("\n")}`));
    const finish = (error?: Error, match?: RegExpMatchArray) => {
      clearTimeout(timer);
      lines.off("line", onLine);
      child.off("exit", onExit);
      if (error) reject(error);
      else resolve(match as RegExpMatchArray);
    };
    lines.on("line", onLine);
    child.once("exit", onExit);
  });
}

/** Ends a child: SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
async function stopChild(child: ChildProcess, graceMs = 3000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise(resolve => child.once("exit", resolve));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
  await exited;
  clearTimeout(timer);
}

export interface ChildHandle {
  readonly pid: number;
  stop(): Promise<void>;
}

export interface FakeRemoteProcess extends ChildHandle {
  readonly address: string;
  /** Has the fake write `events` UPDATE events to its monitor streams once `streams` of them are open. */
  emit(events: number, streams: number): Promise<void>;
}

export async function startFakeRemote(): Promise<FakeRemoteProcess> {
  const child = spawnTs("scripts/bench/fake-remote.ts", { ...process.env });
  child.stderr?.on("data", (chunk: Buffer) => process.stderr.write(`[fake-remote] ${chunk}`));
  const lines = createInterface({ input: child.stdout! });
  const [, address] = await waitForLine(lines, child, /^ready (\S+)$/, "fake remote NSMgr");
  return {
    pid: child.pid!,
    address: address!,
    async emit(events, streams) {
      const answer = waitForLine(lines, child, /^(emitted|error)\b(.*)$/, "fake remote emit", 120_000);
      child.stdin!.write(`emit ${events} ${streams}\n`);
      const [, kind, rest] = await answer;
      if (kind === "error") throw new Error(`fake remote:${rest}`);
    },
    stop: () => stopChild(child),
  };
}

export interface ScaleRemoteProcess extends ChildHandle {
  readonly address: string;
  /** SIGKILL, resolved once the process is gone. */
  kill(): Promise<void>;
}

/** The remote NSMgr stand-in of bench:scale (bench/scale-remote.ts) on `port` (0: any free one). */
export async function startScaleRemote(kind: "seed" | "v1", port = 0): Promise<ScaleRemoteProcess> {
  const child = spawnTs("scripts/bench/scale-remote.ts", { ...process.env }, [], [kind, String(port)]);
  child.stderr?.on("data", (chunk: Buffer) => process.stderr.write(`[remote ${kind}] ${chunk}`));
  const [, address] = await waitForLine(createInterface({ input: child.stdout! }), child, /^ready (\S+)$/, `remote ${kind} NSMgr`);
  const exited = new Promise<void>(resolve => child.once("exit", () => resolve()));
  return {
    pid: child.pid!,
    address: address!,
    async kill() {
      child.kill("SIGKILL");
      await exited;
    },
    stop: () => stopChild(child),
  };
}

export interface GatewayProcess extends ChildHandle {
  readonly apiAddress: string;
  /** The seed registry listener (ClusterInfo) and the v1 listener, from the same log line. */
  readonly registryAddress: string;
  readonly v1Address: string;
  /** The state store it reports: "memory", "redis 127.0.0.1:PORT", ... */
  readonly store: string;
}

/** The caller's environment without pnsmgr's own settings: the bench's run must not depend on the shell it was started from. */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^(PNSMGR_|NSM_|NSMRS_|PROXY_NSMD_|NODE_NAME$|REDIS_URL$)/.test(key)));
}

/**
 * Starts pnsmgr as a child and reads its listen addresses and state store from the "pnsmgr serving"
 * log line on stderr. `label` prefixes what it logs later; `echo` decides which later lines are shown
 * (default: all).
 */
export async function startGatewayProcess(
  env: Record<string, string>,
  nodeArgs: string[] = [],
  label = "pnsmgr",
  echo: (line: string) => boolean = () => true,
): Promise<GatewayProcess> {
  const child = spawnTs("lib/main.ts", { ...cleanEnv(), PNSMGR_INSECURE: "true", ...LOOPBACK_ENV, ...env }, nodeArgs);
  child.stdout?.resume();
  const lines = createInterface({ input: child.stderr! });
  const [line, apiAddress, quoted, bare] = await waitForLine(lines, child, /pnsmgr serving .*\bconnections=(\S+).*\bstore=(?:"([^"]*)"|(\S+))/, label);
  const field = (name: string) => new RegExp(`\\b${name}=(\\S+)`).exec(line)?.[1] ?? "";
  // Anything pnsmgr logs during the run (warnings, errors) is worth seeing next to the figures.
  lines.on("line", line => {
    if (echo(line)) process.stderr.write(`[${label}] ${line}\n`);
  });
  return {
    pid: child.pid!,
    apiAddress: apiAddress!,
    registryAddress: field("registry"),
    v1Address: field("v1"),
    store: quoted ?? bare ?? "",
    stop: () => stopChild(child, 5000),
  };
}

const TICKS_PER_SECOND = 100; // USER_HZ, 100 on every Linux the bench is meant for.

/** CPU seconds (user + system) a process has used so far, from /proc (Linux); NaN elsewhere. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return NaN;
  }
}

/** Resident memory of a process now, KB, from /proc (Linux); NaN elsewhere. */
export function rssKb(pid: number): number {
  try {
    const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match ? Number(match[1]) : NaN;
  } catch {
    return NaN;
  }
}

/** Peak resident memory of a process so far, MB, from /proc (Linux); NaN elsewhere. */
export function peakRssMb(pid: number): number {
  try {
    const match = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match ? Math.round(Number(match[1]) / 1024) : NaN;
  } catch {
    return NaN;
  }
}
