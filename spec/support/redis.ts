/**
 * Real redis-server and Sentinel processes for tests, on free 127.0.0.1 ports, each in its own temp
 * dir (no persistence). Every process started here is tracked; `stopAllRedis()` (call it from
 * test.after.always / t.teardown) kills them and removes their dirs, and the worker's exit kills any
 * left over. Talks to the processes with a tiny RESP client (no ioredis: only the store uses it).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { freePort } from "./ports.js";
import { waitFor as pollUntil } from "./wait.js";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface RedisProcess {
  readonly port: number;
  /** "127.0.0.1:<port>" */
  readonly address: string;
  readonly url: string;
  readonly dir: string;
  /** The current process; undefined after kill(). */
  pid(): number | undefined;
  /** Sends a signal (SIGKILL by default) and, unless it is SIGSTOP/SIGCONT, waits for the exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts the server again on the same port and dir (after kill()); resolves once it answers PING. */
  restart(): Promise<void>;
  /** Kills the process and removes its dir. */
  stop(): Promise<void>;
}

const running = new Set<RedisProcess>();
const children = new Set<ChildProcess>();

process.once("exit", () => {
  for (const child of children) child.kill("SIGKILL");
});

export interface StartRedisOptions {
  /** Replicate this server (--replicaof). */
  readonly replicaOf?: RedisProcess;
  /** More redis-server arguments (config directives: --requirepass, --user, --tls-port...). */
  readonly args?: readonly string[];
}

export async function startRedis(options: StartRedisOptions = {}): Promise<RedisProcess> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "pnsmgr-redis-"));
  const args = [
    "--port", String(port),
    "--bind", "127.0.0.1",
    "--save", "",
    "--appendonly", "no",
    "--dir", dir,
    "--repl-diskless-sync", "yes",
    "--repl-diskless-sync-delay", "0",
    "--loglevel", "warning",
    ...(options.replicaOf ? ["--replicaof", "127.0.0.1", String(options.replicaOf.port)] : []),
    ...(options.args ?? []),
  ];
  return track(port, dir, () => spawnServer(args), async () => {
    const master = options.replicaOf;
    if (master) {
      // In sync on both sides: the replica's link is up and the master counts it online (for WAIT).
      await waitFor(
        async () =>
          /master_link_status:up/.test(String(await redisCommand(port, "INFO", "replication"))) &&
          new RegExp(`port=${port},state=online`).test(String(await redisCommand(master.port, "INFO", "replication"))),
        10_000,
        `replica :${port} in sync`,
      );
    }
  });
}

export interface StartSentinelOptions {
  readonly master: RedisProcess;
  readonly masterName?: string;
  readonly downAfterMs?: number;
  /** Replicas that must be known to the sentinel before this resolves (so that it can fail over). */
  readonly replicas?: number;
  /** More sentinel.conf lines (requirepass, sentinel auth-pass ...). */
  readonly conf?: readonly string[];
}

/** A Sentinel (redis-server --sentinel) monitoring `master` with quorum 1. */
export async function startSentinel(options: StartSentinelOptions): Promise<RedisProcess> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "pnsmgr-sentinel-"));
  const name = options.masterName ?? "mymaster";
  const conf = join(dir, "sentinel.conf");
  writeFileSync(
    conf,
    [
      `port ${port}`,
      "bind 127.0.0.1",
      "protected-mode no",
      `dir ${dir}`,
      "loglevel warning",
      `sentinel monitor ${name} 127.0.0.1 ${options.master.port} 1`,
      `sentinel down-after-milliseconds ${name} ${options.downAfterMs ?? 1000}`,
      `sentinel failover-timeout ${name} 10000`,
      `sentinel parallel-syncs ${name} 1`,
      ...(options.conf ?? []),
      "",
    ].join("\n"),
  );
  return track(port, dir, () => spawnServer([conf, "--sentinel"]), async () => {
    const want = options.replicas ?? 0;
    if (want > 0) {
      await waitFor(async () => {
        const replicas = await redisCommand(port, "SENTINEL", "REPLICAS", name);
        return Array.isArray(replicas) && replicas.length >= want;
      }, 15_000, `sentinel :${port} to discover ${want} replica(s)`);
    }
  });
}

/** Sentinel's current master address for `name`, "host:port". */
export async function sentinelMaster(sentinel: RedisProcess, name = "mymaster"): Promise<string> {
  const reply = await redisCommand(sentinel.port, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", name);
  return Array.isArray(reply) ? `${String(reply[0])}:${String(reply[1])}` : "";
}

export async function stopAllRedis(): Promise<void> {
  await Promise.all([...running].map(p => p.stop()));
}

function spawnServer(args: string[]): ChildProcess {
  const child = spawn("redis-server", args, { stdio: ["ignore", "ignore", "pipe"] });
  child.stderr?.resume();
  child.on("error", () => {}); // reported by launch() through the exit race below
  children.add(child);
  child.once("exit", () => children.delete(child));
  return child;
}

async function track(port: number, dir: string, start: () => ChildProcess, ready: () => Promise<void>): Promise<RedisProcess> {
  let child: ChildProcess | undefined;
  const launch = async () => {
    const spawned = start();
    child = spawned;
    const exited = new Promise<never>((_, reject) => {
      spawned.once("exit", code => reject(new Error(`redis-server :${port} exited (${code})`)));
      spawned.once("error", error => reject(new Error(`cannot start redis-server (apt-get install redis-server): ${error.message}`)));
    });
    exited.catch(() => {});
    // Up: PONG, or NOAUTH from a server with a password.
    const up = (reply: Reply) => reply === "PONG" || (reply instanceof Error && reply.message.startsWith("NOAUTH"));
    await Promise.race([waitFor(async () => up(await redisCommand(port, "PING")), 10_000, `redis :${port} PING`), exited]);
    await ready();
  };
  const kill = async (signal: NodeJS.Signals = "SIGKILL") => {
    const current = child;
    if (!current || current.exitCode !== null || current.signalCode !== null) return;
    if (signal === "SIGSTOP" || signal === "SIGCONT") {
      current.kill(signal);
      return;
    }
    const exit = new Promise<void>(resolve => current.once("exit", () => resolve()));
    current.kill("SIGCONT");
    current.kill(signal);
    await exit;
    child = undefined;
  };
  const handle: RedisProcess = {
    port,
    address: `127.0.0.1:${port}`,
    url: `redis://127.0.0.1:${port}`,
    dir,
    pid: () => child?.pid,
    kill,
    restart: launch,
    async stop() {
      running.delete(handle);
      await kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    },
  };
  running.add(handle);
  try {
    await launch();
  } catch (error: unknown) {
    await handle.stop();
    throw error;
  }
  return handle;
}

/** Polls a redis-server readiness check; errors (connection refused while it starts) mean "not yet". */
function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  return pollUntil(check, timeoutMs, what, { everyMs: 50, tolerate: () => true });
}

// ---- a minimal RESP client: one command per connection ----

export type Reply = string | number | null | Error | Reply[];

export function redisCommand(port: number, ...args: string[]): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    let buffer = Buffer.alloc(0);
    socket.setTimeout(2000, () => socket.destroy(new Error(`redis :${port} ${args[0]}: timeout`)));
    socket.once("error", reject);
    socket.on("data", chunk => {
      buffer = Buffer.concat([buffer, chunk]);
      const parsed = parseReply(buffer, 0);
      if (parsed) {
        socket.end();
        resolve(parsed.value);
      }
    });
    socket.write(`*${args.length}\r\n${args.map(a => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join("")}`);
  });
}

function parseReply(buffer: Buffer, offset: number): { value: Reply; end: number } | undefined {
  const lineEnd = buffer.indexOf("\r\n", offset);
  if (lineEnd < 0) return undefined;
  const kind = String.fromCharCode(buffer[offset] ?? 0);
  const line = buffer.toString("utf8", offset + 1, lineEnd);
  switch (kind) {
    case "+":
      return { value: line, end: lineEnd + 2 };
    case "-":
      return { value: new Error(line), end: lineEnd + 2 };
    case ":":
      return { value: Number(line), end: lineEnd + 2 };
    case "$": {
      const length = Number(line);
      if (length < 0) return { value: null, end: lineEnd + 2 };
      if (buffer.length < lineEnd + 2 + length + 2) return undefined;
      return { value: buffer.toString("utf8", lineEnd + 2, lineEnd + 2 + length), end: lineEnd + 2 + length + 2 };
    }
    case "*": {
      const count = Number(line);
      if (count < 0) return { value: null, end: lineEnd + 2 };
      const items: Reply[] = [];
      let end = lineEnd + 2;
      for (let i = 0; i < count; i++) {
        const item = parseReply(buffer, end);
        if (!item) return undefined;
        items.push(item.value);
        end = item.end;
      }
      return { value: items, end };
    }
    default:
      throw new Error(`unexpected RESP reply ${JSON.stringify(buffer.toString("utf8", offset, lineEnd))}`);
  }
}
