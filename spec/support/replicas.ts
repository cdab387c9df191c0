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
import { freePort } from "./ports.js";
import { killGatewayProcesses, startGatewayProcess } from "./gateway-process.js";
import { LOOPBACK_ENV } from "./loopback.js";

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
  /** Sends a signal (SIGKILL by default) and, unless it is SIGSTOP / SIGCONT, waits for the exit (at most 5 s). */
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
export const stopReplicas = killGatewayProcesses;

async function startReplica(label: string, options: StartReplicasOptions): Promise<Replica> {
  const v1Port = await freePort();
  const replica = startGatewayProcess({
    REDIS_URL: options.redisUrl,
    NSM_NAME: options.name,
    NSM_LISTEN_ON: `tcp://127.0.0.1:${v1Port}`,
    ...LOOPBACK_ENV,
    ...options.env,
  }, options.nodeArgs);
  const timeoutMs = options.startTimeoutMs ?? 20_000;
  const line = await replica.waitForLine(l => l.includes("pnsmgr serving"), timeoutMs, `replica ${label}: "pnsmgr serving"`);
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
    pid: replica.child.pid,
    log: replica.log,
    exited: replica.exited,
    async kill(signal: NodeJS.Signals = "SIGKILL") {
      const { child, exited } = replica;
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      if (signal === "SIGSTOP" || signal === "SIGCONT") return;
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
