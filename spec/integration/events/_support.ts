/**
 * Support for the event replay tests (not a test file): `pnsmgr events` as a real child process
 * (`node --import tsx lib/cli/pnsmgr.ts events ...`, every one killed by `killClis`), and a seed
 * monitor scenario through a gateway that leaves a known set of events in its log.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { ConnectionEventType, MonitorConnectionService, type ConnectionEvent } from "../../../generated/nsm/connection.js";
import { NetworkServiceService } from "../../../generated/nsm/networkservice.js";
import type { Gateway } from "../../../lib/gateway.js";
import type { EventEntry } from "../../../lib/state/event-log.js";
import { callUnary, openServerStream, type StreamHandle } from "../../support/grpc.js";
import { type FakeNsmgr, startFakeClusterInfo, startFakeNsmgr } from "../../support/fake-nsmgr.js";
import { seedRequest } from "../../support/seed-requests.js";
import { STATE_ENV } from "../../../lib/state/state.js";
import { OPTIONS } from "../../../lib/config.js";
import type { GatewayOptions } from "../../../lib/gateway.js";
import type { Connection } from "../../../generated/nsm/connection.js";
import { startTestGateway } from "../../support/gateway.js";
import { type FakeV1Nsmgr, startFakeV1Nsmgr } from "../../support/fake-v1-nsmgr.js";
import { startFakeNseRegistry } from "../../support/fake-v1-registry-lite.js";
import { fwdRequest, fwdToken } from "../connection-v1/_topology.js";
import { sleep, within } from "../../support/wait.js";
import { seedSelector, segment } from "../../support/wire.js";
import { ROOT } from "../../support/root.js";


export interface Cli {
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Complete stdout lines so far. */
  lines(): string[];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const children = new Set<ChildProcess>();

/** Starts `pnsmgr events <args>` with no Redis settings inherited (only those in `env`). */
export function startEventsCli(args: string[], env: Record<string, string> = {}): Cli {
  return startPnsmgr(["events", ...args], env);
}

/** Starts `pnsmgr <args>` with no Redis or listener settings inherited (only those in `env`). */
export function startPnsmgr(args: string[], env: Record<string, string> = {}): Cli {
  const inherited: NodeJS.ProcessEnv = { ...process.env };
  for (const name of [...Object.keys(STATE_ENV), ...OPTIONS.map(o => o.env)]) delete inherited[name];
  const child = spawn(process.execPath, ["--import", "tsx", "lib/cli/pnsmgr.ts", ...args], {
    cwd: ROOT,
    env: { ...inherited, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.add(child);
  let stdout = "";
  let stderr = "";
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>(resolve =>
    child.on("exit", (code, signal) => {
      children.delete(child);
      resolve({ code, signal });
    }),
  );
  const lines = () => {
    const complete = stdout.slice(0, stdout.lastIndexOf("\n") + 1);
    return complete === "" ? [] : complete.slice(0, -1).split("\n");
  };
  return { child, stdout: () => stdout, stderr: () => stderr, lines, exited };
}

export interface CliResult {
  readonly code: number | null;
  readonly lines: string[];
  readonly stderr: string;
}

/** Runs `pnsmgr events <args>` to its end (at most `timeoutMs`). */
export async function runEventsCli(args: string[], env: Record<string, string> = {}, timeoutMs = 15_000): Promise<CliResult> {
  const cli = startEventsCli(args, env);
  const { code } = await within(cli.exited, timeoutMs, `pnsmgr events ${args.join(" ")}`);
  return { code, lines: cli.lines(), stderr: cli.stderr() };
}

/** Runs the tasks with at most three at once, answers in the order given. */
export async function threeAtATime<T extends unknown[]>(tasks: [...{ [K in keyof T]: () => Promise<T[K]> }]): Promise<T> {
  const results: unknown[] = new Array(tasks.length);
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const i = next++;
      results[i] = await (tasks[i] as () => Promise<unknown>)();
    }
  };
  await Promise.all([worker(), worker(), worker()]);
  return results as T;
}

/** Waits until the CLI has printed at least `count` lines; fails early when it exits first. */
export async function linesOf(cli: Cli, count: number, timeoutMs = 10_000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (cli.lines().length >= count) return cli.lines();
    if (cli.child.exitCode !== null || cli.child.signalCode !== null) throw new Error(`exited (${cli.child.exitCode ?? cli.child.signalCode}) after ${cli.lines().length} line(s):\n${cli.stderr()}`);
    if (Date.now() > deadline) throw new Error(`${cli.lines().length} of ${count} line(s) within ${timeoutMs} ms:\n${cli.stdout()}\n${cli.stderr()}`);
    await sleep(25);
  }
}

export function killClis(): void {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  children.clear();
}

/** The store's entries once it holds at least `count` (the recorder appends asynchronously). */
export async function storedEvents(gateway: Gateway, count: number, timeoutMs = 5000): Promise<EventEntry[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const entries = await gateway.state.events.read();
    if (entries.length >= count) return entries;
    if (Date.now() > deadline) throw new Error(`the event log holds ${entries.length} of ${count} entries`);
    await sleep(10);
  }
}


export interface SeedRemote {
  readonly nsmgr: FakeNsmgr;
  /** "nsmgr-2@127.0.0.1:port", as the client writes it. */
  readonly nsm: string;
  readonly stream: StreamHandle<ConnectionEvent>;
}

/** Two remote v0 NSMgrs (nsmgr-2, nsmgr-3) and a ClusterInfo for them; `remotePort` goes to the gateway's config. */
export async function startRemotes(): Promise<{ remotePort: number; a: Omit<SeedRemote, "stream">; b: Omit<SeedRemote, "stream"> }> {
  const a = await startFakeNsmgr({ name: "nsmgr-2", dstIP: "10.2.0.7" });
  const b = await startFakeNsmgr({ name: "nsmgr-3", dstIP: "10.2.0.7" });
  const clusterInfo = await startFakeClusterInfo([{ nodeName: "r", internalIP: "10.2.0.7", externalIP: "198.51.100.7" }]);
  return { remotePort: clusterInfo.port, a: { nsmgr: a, nsm: `nsmgr-2@${a.address}` }, b: { nsmgr: b, nsm: `nsmgr-3@${b.address}` } };
}

export function watch(gateway: Gateway, remote: Omit<SeedRemote, "stream">): SeedRemote {
  return { ...remote, stream: openServerStream(gateway.apiAddress, MonitorConnectionService.monitorConnections, seedSelector(remote.nsm)) };
}

export interface SeedScenario {
  readonly a: SeedRemote;
  readonly b: SeedRemote;
  readonly connA: string;
  readonly connB: string;
  /** The log after the scenario: ITS(a), ITS(b), UPDATE(connA), UPDATE(connB), UPDATE(connA DOWN), DELETE(connA). */
  readonly entries: EventEntry[];
}

/**
 * Monitor streams to both remotes, a connection through each, then connA goes DOWN and its endpoint
 * dies. Each step waits for the client to see its event, and a few ms pass between steps, so the
 * entries have distinct append times.
 */
export async function seedScenario(gateway: Gateway, remotes: Awaited<ReturnType<typeof startRemotes>>): Promise<SeedScenario> {
  const a = watch(gateway, remotes.a);
  const b = watch(gateway, remotes.b);
  const expect = async (remote: SeedRemote, type: ConnectionEventType) => {
    const event = await remote.stream.next();
    if (event.type !== type) throw new Error(`expected ${ConnectionEventType[type]}, got ${JSON.stringify(event)}`);
    await sleep(15);
  };
  await expect(a, ConnectionEventType.INITIAL_STATE_TRANSFER);
  await expect(b, ConnectionEventType.INITIAL_STATE_TRANSFER);
  const connA = (await callUnary(gateway.apiAddress, NetworkServiceService.request, seedRequest(a.nsm))).id;
  await expect(a, ConnectionEventType.UPDATE);
  const connB = (await callUnary(gateway.apiAddress, NetworkServiceService.request, seedRequest(b.nsm))).id;
  await expect(b, ConnectionEventType.UPDATE);
  a.nsmgr.connectionDown(connA);
  await expect(a, ConnectionEventType.UPDATE);
  a.nsmgr.endpointDies(connA);
  await expect(a, ConnectionEventType.DELETE);
  const entries = await storedEvents(gateway, 6);
  return { a, b, connA, connB, entries };
}

/** The JSON lines of a `--json` run, parsed. */
export const parsed = (lines: string[]) =>
  lines.map(l => JSON.parse(l) as { position: string; time: string; at: number; type: string; peer: string; connectionIds: string[]; payload: { connections?: Record<string, { state?: string; networkService?: string }> } });

export interface V1Connection {
  readonly gateway: Gateway;
  readonly nsmgr: FakeV1Nsmgr;
  /** fwd-1's monitor stream at the gateway (initial state taken). */
  readonly stream: StreamHandle<ConnectionEvent>;
  readonly answer: Connection;
  /** The gateway's own segment id (its monitor's key) and the NSMgr's. */
  readonly ourId: string;
  readonly nsmgrId: string;
}

/**
 * A v1 gateway that discovers "nse" at a fake NSMgr through a fake registry, fwd-1 (the test)
 * watching it, and one connection (its UPDATE seen by fwd-1, the NSMgr's monitor open), with fwd-1's
 * token lasting `tokenLifetimeMs` (default 10 min).
 */
export async function v1Connection(options: GatewayOptions = {}, tokenLifetimeMs?: number): Promise<V1Connection> {
  const nsmgr = await startFakeV1Nsmgr({ name: "nsmgr-2", endpoints: ["nse"] });
  const registry = await startFakeNseRegistry({ nse: nsmgr.url });
  const gateway = await startTestGateway({ name: "proxy-1", registryUrl: registry.url }, options);
  const stream = openServerStream(gateway.v1Address, MonitorConnectionService.monitorConnections, { pathSegments: [segment("fwd-1", "fwd-1-id")], networkServices: [] });
  await stream.next();
  const answer = await callUnary(gateway.v1Address, NetworkServiceService.request, fwdRequest(), { metadata: await fwdToken(tokenLifetimeMs) });
  await stream.next();
  const deadline = Date.now() + 3000;
  while (nsmgr.monitorCount() === 0) {
    if (Date.now() > deadline) throw new Error("the gateway does not monitor the NSMgr");
    await sleep(10);
  }
  return { gateway, nsmgr, stream, answer, ourId: answer.path!.pathSegments[3]!.id, nsmgrId: answer.path!.pathSegments[4]!.id };
}
