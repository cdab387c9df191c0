/**
 * The Redis the bench runs pnsmgr against, and what pnsmgr asks of it per Request.
 *
 * Servers: spec/support/redis.ts starts them (127.0.0.1, a free port, `--save '' --appendonly no`, a
 * temp dir; killed when the bench exits however it exits). Two setups, each used by one pnsmgr:
 *
 *   redis       one redis-server, pnsmgr with REDIS_URL (PNSMGR_REDIS_WAIT_REPLICAS 0, the REDIS_URL default)
 *   redis+wait  a master and one replica, pnsmgr with REDIS_URL and PNSMGR_REDIS_WAIT_REPLICAS=1, so
 *               that a connection record is acknowledged once the replica has it, as with Sentinel
 *               in manifests/ (WAIT)
 *
 * Counting, from the master's INFO around each phase (the gateway using it is idle outside its own
 * phases): commands per Request from `commandstats` (calls), and round trips per Request from
 * `total_reads_processed`, the socket reads the server served. A client that pipelines sends several
 * commands in one write, which arrives in one read, so at one Request in flight reads per Request are
 * its round trips. With several in flight, commands of concurrent Requests share reads and the figure
 * drops below the round trips any one Request waits for (reported, but the c=1 figure is the answer).
 * The replica's REPLCONF ACKs (one per WAIT, one a second otherwise) are reads too and are taken out;
 * so is the cost of taking the snapshots, calibrated once on the idle server.
 */
import { spawnSync } from "node:child_process";
import { type RedisProcess, redisCommand, startRedis } from "../../spec/support/redis.js";

export type Counters = Record<string, number>;

export interface BenchRedis {
  /** REDIS_URL for pnsmgr. */
  readonly url: string;
  /** The master and, for redis+wait, its replica. */
  readonly servers: readonly RedisProcess[];
  /** Counter deltas over `run` on the master, the snapshots' own cost taken out. */
  measure<T>(run: () => Promise<T>): Promise<{ result: T; counters: Counters }>;
  stop(): Promise<void>;
}

/** Why the Redis part of the bench cannot run here, or undefined if it can. */
export function redisUnavailable(): string | undefined {
  const probe = spawnSync("redis-server", ["--version"], { encoding: "utf8" });
  if (probe.error) return `redis-server not found on PATH (${(probe.error as NodeJS.ErrnoException).code ?? probe.error.message}); install it (apt-get install redis-server) to measure the Redis store`;
  if (probe.status !== 0) return `redis-server --version failed (exit ${probe.status})`;
  return undefined;
}

export async function startBenchRedis(options: { replica: boolean }): Promise<BenchRedis> {
  const master = await startRedis();
  const replica = options.replica ? await startRedis({ replicaOf: master }) : undefined;
  const servers = replica ? [master, replica] : [master];
  const snapshot = () => counters(master.port);
  // Two snapshots back to back on the idle server: what one snapshot adds to the next one's figures.
  const first = await snapshot();
  const overhead = subtract(await snapshot(), first, {});
  return {
    url: master.url,
    servers,
    async measure(run) {
      const before = await snapshot();
      const result = await run();
      const after = await snapshot();
      return { result, counters: subtract(after, before, overhead) };
    },
    async stop() {
      await Promise.all(servers.map(s => s.stop()));
    },
  };
}

/** `cmd:<name>` calls per command, `reads`, from one INFO. */
async function counters(port: number): Promise<Counters> {
  const reply = await redisCommand(port, "INFO", "commandstats", "stats");
  if (typeof reply !== "string") throw new Error(`redis :${port} INFO: ${reply instanceof Error ? reply.message : String(reply)}`);
  const out: Counters = {};
  for (const line of reply.split("\r\n")) {
    const cmd = /^cmdstat_([^:]+):calls=(\d+)/.exec(line);
    if (cmd) out[`cmd:${cmd[1]}`] = Number(cmd[2]);
    const reads = /^total_reads_processed:(\d+)/.exec(line);
    if (reads) out.reads = Number(reads[1]);
  }
  if (out.reads === undefined) throw new Error(`redis :${port} INFO stats has no total_reads_processed (Redis >= 6 needed)`);
  return out;
}

function subtract(after: Counters, before: Counters, overhead: Counters): Counters {
  const out: Counters = {};
  for (const key of new Set([...Object.keys(after), ...Object.keys(before)])) {
    const value = (after[key] ?? 0) - (before[key] ?? 0) - (overhead[key] ?? 0);
    if (value !== 0) out[key] = value;
  }
  return out;
}

export interface PerRequest {
  /** Commands pnsmgr sent per Request, by name (upper case), replication's own traffic left out. */
  commands: Record<string, number>;
  /** All of those together. */
  commandsTotal: number;
  /** Socket reads from pnsmgr per Request: its round trips when one Request is in flight. */
  roundTrips: number;
}

/** Per-Request figures from counter deltas summed over phases that completed `requests` Requests. */
export function perRequest(deltas: Counters, requests: number): PerRequest {
  const commands: Record<string, number> = {};
  let total = 0;
  for (const [key, value] of Object.entries(deltas)) {
    if (!key.startsWith("cmd:")) continue;
    const name = key.slice(4);
    // Replication: the replica's REPLCONF ACK / GETACK answers, not pnsmgr's commands.
    if (name === "replconf") continue;
    commands[name.toUpperCase()] = value / requests;
    total += value;
  }
  const replicaReads = deltas["cmd:replconf"] ?? 0;
  return { commands, commandsTotal: total / requests, roundTrips: ((deltas.reads ?? 0) - replicaReads) / requests };
}
