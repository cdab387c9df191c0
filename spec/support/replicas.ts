/**
 * Real pnsmgr replicas for tests: N child processes `node --import tsx lib/main.ts`, as operators run
 * it, sharing one Redis (REDIS_URL) and one NSM_NAME (replicas of one logical proxy), each with its own
 * v1 listener on a free 127.0.0.1 port and its seed listeners on 127.0.0.1 port 0 (redisUrl "": each on
 * its own in-memory state). Every pnsmgr
 * variable not given is removed from the inherited environment. `startReplicas` resolves once every
 * replica has logged "pnsmgr serving" (the store is connected by then), with the v1 address from that
 * line. Every process started here is tracked; `stopReplicas()` (call it from test.after.always /
 * afterEach.always) SIGKILLs them, and the worker's exit kills any left over.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { OPTIONS } from "../../lib/config.js";
import { STATE_ENV } from "../../lib/state/state.js";
import { freePort } from "./ports.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

export interface Replica {
  readonly label: string;
  /** "127.0.0.1:<port>" of the v1 listener, as the "pnsmgr serving" line gave it. */
  readonly v1Address: string;
  /** tcp://<v1Address> */
  readonly url: string;
  /** "127.0.0.1:<port>" of the seed connection plane (Request, Close, MonitorConnections). */
  readonly apiAddress: string;
  /** The replica id it holds leases under (the "replica" field of its "pnsmgr serving" line). */
  readonly replicaId: string;
  readonly pid: number | undefined;
  /** Everything the replica wrote to stderr so far (its log). */
  log(): string;
  /** Sends a signal (SIGKILL by default) and waits for the exit (at most 5 s). */
  kill(signal?: NodeJS.Signals): Promise<void>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface StartReplicasOptions {
  readonly redisUrl: string;
  /** NSM_NAME shared by the replicas. */
  readonly name: string;
  /** How many (default 2); labelled "A", "B", "C", ... */
  readonly count?: number;
  /** Further variables for every replica (PNSMGR_REDIS_PREFIX, NSM_REGISTRY_URL, PNSMGR_DNS_SERVER, ...). */
  readonly env?: Readonly<Record<string, string>>;
  /** How long each may take to log "pnsmgr serving" (default 20 s). */
  readonly startTimeoutMs?: number;
  /** Further node options before the entry point (e.g. ["--import", "./spec/support/loopback-only.ts"]). */
  readonly nodeArgs?: readonly string[];
}

const children = new Set<ChildProcess>();

process.once("exit", () => {
  for (const child of children) child.kill("SIGKILL");
});

export async function startReplicas(options: StartReplicasOptions): Promise<Replica[]> {
  const count = options.count ?? 2;
  const labels = Array.from({ length: count }, (_, i) => String.fromCharCode(65 + i));
  try {
    return await Promise.all(labels.map(label => startReplica(label, options)));
  } catch (error: unknown) {
    await stopReplicas();
    throw error;
  }
}

/** SIGKILLs every replica started here and waits for them to exit. */
export async function stopReplicas(): Promise<void> {
  await Promise.all(
    [...children].map(
      child =>
        new Promise<void>(resolve => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once("exit", () => resolve());
          child.kill("SIGKILL");
        }),
    ),
  );
  children.clear();
}

async function startReplica(label: string, options: StartReplicasOptions): Promise<Replica> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const option of OPTIONS) delete env[option.env];
  for (const name of Object.keys(STATE_ENV)) delete env[name];
  const v1Port = await freePort();
  const child = spawn(process.execPath, ["--import", "tsx", ...(options.nodeArgs ?? []), "lib/main.ts"], {
    cwd: ROOT,
    env: {
      ...env,
      REDIS_URL: options.redisUrl,
      NSM_NAME: options.name,
      NSM_LISTEN_ON: `tcp://127.0.0.1:${v1Port}`,
      PROXY_NSMD_API_ADDRESS: "127.0.0.1:0",
      PROXY_NSMD_K8S_ADDRESS: "127.0.0.1:0",
      NSM_MAP_IP_FILE_PATH: "/nonexistent/pnsmgr-test/map-ip.yaml",
      PNSMGR_CLUSTER_INFO_FILE: "/nonexistent/pnsmgr-test/clusterinfo.yaml",
      ...options.env,
    },
    stdio: ["ignore", "ignore", "pipe"],
  });
  children.add(child);
  let log = "";
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (log += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>(resolve =>
    child.once("exit", (code, signal) => {
      children.delete(child);
      resolve({ code, signal });
    }),
  );
  const timeoutMs = options.startTimeoutMs ?? 20_000;
  const deadline = Date.now() + timeoutMs;
  let line: string | undefined;
  while (!(line = log.split("\n").find(l => l.includes("pnsmgr serving")))) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`replica ${label} exited (${child.exitCode ?? child.signalCode}) before serving:\n${log}`);
    if (Date.now() > deadline) throw new Error(`replica ${label}: no "pnsmgr serving" within ${timeoutMs} ms:\n${log}`);
    await new Promise(resolve => setTimeout(resolve, 25));
  }
  const v1Address = /\bv1=(\S+)/.exec(line)?.[1];
  const apiAddress = /\bconnections=(\S+)/.exec(line)?.[1];
  const replicaId = /\breplica=(\S+)/.exec(line)?.[1];
  if (!v1Address || !apiAddress || !replicaId) throw new Error(`replica ${label}: no v1 / connections address or replica id in: ${line}`);
  return {
    label,
    v1Address,
    url: `tcp://${v1Address}`,
    apiAddress,
    replicaId,
    pid: child.pid,
    log: () => log,
    exited,
    async kill(signal: NodeJS.Signals = "SIGKILL") {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        exited.finally(() => clearTimeout(timer)),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`replica ${label} did not exit within 5 s of ${signal}`)), 5000);
        }),
      ]);
    },
  };
}
