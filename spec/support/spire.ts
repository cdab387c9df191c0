/**
 * Real SPIRE (v1.13.3, built by scripts/ensure-spire.sh) for tests: one spire-server and one spire-agent
 * per trust domain, federated with each other by exchanging their SPIFFE bundles, everything on unix
 * sockets and 127.0.0.1 in one temp dir. Agents attest with join tokens and attest workloads with the
 * unix plugin (uid/gid, and path: tell the Node process, pnsmgr and the Go test binary apart by binary).
 *
 *   const spire = await startSpire();                    // cluster1.test + cluster2.test, federated
 *   await spire.createEntry({ trustDomain: "cluster1.test", spiffeId: "spiffe://cluster1.test/pnsmgr",
 *     selectors: nodeSelectors(), x509SvidTtl: 20 });    // waits until the agent serves it
 *   env.SPIFFE_ENDPOINT_SOCKET = spire.domain("cluster1.test").endpointSocket;
 *   const lone = await spire.addDomain("cluster3.test", { federate: false });   // for refusals
 *   await spire.stop();
 *
 * Every process started here is tracked; the worker's exit kills any left over.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "./ports.js";
import { waitFor as pollUntil } from "./wait.js";

export interface SpireEntryOptions {
  readonly trustDomain: string;
  /** Full SPIFFE ID (spiffe://<trustDomain>/...). */
  readonly spiffeId: string;
  /** Workload selectors, e.g. nodeSelectors() or ["unix:uid:0"]. */
  readonly selectors: readonly string[];
  /** Trust domains ("cluster2.test") whose bundles the Workload API hands out with this SVID.
   *  Default: every other domain this domain is federated with. */
  readonly federatesWith?: readonly string[];
  /** X.509 SVID lifetime in seconds (the agent rotates at about half of it). Default: the server's. */
  readonly x509SvidTtl?: number;
  /** Wait until the agent serves the SVID (default true). */
  readonly wait?: boolean;
}

export interface SpireEntry {
  readonly entryId: string;
  readonly spiffeId: string;
  readonly trustDomain: string;
}

export interface SpireDomain {
  readonly trustDomain: string;
  /** spiffe://<trustDomain> */
  readonly id: string;
  readonly dir: string;
  /** The spire-server API socket (registration, bundles, tokens). */
  readonly serverSocket: string;
  /** The agent's Workload API socket path. */
  readonly agentSocket: string;
  /** "unix://<agentSocket>", the value for SPIFFE_ENDPOINT_SOCKET. */
  readonly endpointSocket: string;
  /** The agent's own SPIFFE ID (parent of every entry created for this domain). */
  readonly agentId: string;
  /** 127.0.0.1 port the server listens on for agents. */
  readonly serverPort: number;
  /** Domains this one trusts (bundles exchanged both ways). */
  readonly federatedWith: ReadonlySet<string>;
  /** The domain's X.509 trust bundle (CA certificates), PEM. */
  bundlePem(): Promise<string>;
}

export interface AddDomainOptions {
  /** Exchange bundles with every federated domain already running (default true). */
  readonly federate?: boolean;
}

export interface Spire {
  readonly binDir: string;
  readonly dir: string;
  domain(trustDomain: string): SpireDomain;
  domains(): readonly SpireDomain[];
  /** Starts one more server + agent; `{ federate: false }` gives a domain nobody trusts (refusal tests). */
  addDomain(trustDomain: string, options?: AddDomainOptions): Promise<SpireDomain>;
  createEntry(options: SpireEntryOptions): Promise<SpireEntry>;
  deleteEntry(entry: SpireEntry): Promise<void>;
  /** Resolves once the domain's agent has minted an SVID for `spiffeId` (or throws after `timeoutMs`). */
  waitForSvid(trustDomain: string, spiffeId: string, timeoutMs?: number): Promise<void>;
  /** What the agent serves to the spire-agent CLI itself (entries selected by spireAgentSelectors()). */
  fetchX509(trustDomain: string): Promise<FetchedX509>;
  /** Stops a domain's agent: its Workload API socket goes away. */
  stopAgent(trustDomain: string): Promise<void>;
  /** Starts a stopped agent again from its data dir (its key and SVID kept on disk, no new join token). */
  restartAgent(trustDomain: string): Promise<void>;
  /** Kills every process and removes the temp dir. */
  stop(): Promise<void>;
}

export interface FetchedSvid {
  readonly spiffeId: string;
  /** DER certificate chain, leaf first. */
  readonly certificates: readonly Buffer[];
  /** DER CA certificates of the SVID's own trust domain. */
  readonly bundle: readonly Buffer[];
}

export interface FetchedX509 {
  readonly svids: readonly FetchedSvid[];
  /** Federated bundles by trust domain ID ("spiffe://cluster2.test"), DER certificates. */
  readonly federatedBundles: ReadonlyMap<string, readonly Buffer[]>;
}

export interface StartSpireOptions {
  /** Trust domains started and federated with each other (default cluster1.test and cluster2.test). */
  readonly trustDomains?: readonly string[];
  /** Server default X.509 SVID TTL in seconds (default 3600); entries may set their own. */
  readonly defaultX509SvidTtl?: number;
  /** SPIRE log level (default WARN); logs go to <dir>/<domain>/{server,agent}.log. */
  readonly logLevel?: "DEBUG" | "INFO" | "WARN" | "ERROR";
}

const DEFAULT_TRUST_DOMAINS = ["cluster1.test", "cluster2.test"] as const;
const START_TIMEOUT_MS = 30_000;

const children = new Set<ChildProcess>();
process.once("exit", () => {
  // SIGTERM: the watchdog (below) then stops its SPIRE process; a SIGKILL would leave that running.
  for (const child of children) child.kill("SIGTERM");
});

/**
 * Every SPIRE process runs under a small bash watchdog that ends it when this process is gone: a test
 * worker killed after a hung teardown (ava's "Failed to exit") never runs stop() nor its exit hook, and
 * its spire-servers and agents would otherwise run on. SIGTERM to the watchdog stops the SPIRE process
 * and waits for it; the watchdog exits with the SPIRE process's status when that ends on its own.
 */
const WATCHDOG = `"$@" & child=$!
trap 'kill -TERM "$child" 2>/dev/null; wait "$child"; exit' TERM INT
while kill -0 "$SPIRE_FIXTURE_OWNER" 2>/dev/null && kill -0 "$child" 2>/dev/null; do sleep 2 & wait $!; done
kill -TERM "$child" 2>/dev/null
wait "$child"`;

let cachedBinDir: string | undefined;

/** The directory holding spire-server and spire-agent (builds them once through scripts/ensure-spire.sh). */
export async function spireBinDir(): Promise<string> {
  if (cachedBinDir) return cachedBinDir;
  const script = fileURLToPath(new URL("../../scripts/ensure-spire.sh", import.meta.url));
  const { stdout } = await run("bash", [script], { timeoutMs: 20 * 60_000 });
  cachedBinDir = stdout.trim().split("\n").pop() ?? "";
  return cachedBinDir;
}

/** Selectors matching the Node process running the tests (and pnsmgr processes started with the same node). */
export function nodeSelectors(): string[] {
  return [`unix:path:${realpathSync(process.execPath)}`];
}

/** Selectors matching a binary by path (e.g. the Go test binary). */
export function pathSelectors(binary: string): string[] {
  return [`unix:path:${realpathSync(binary)}`];
}

/** Selectors matching the spire-agent CLI (`spire-agent api fetch x509`), for checks through the CLI. */
export function spireAgentSelectors(binDir: string): string[] {
  return pathSelectors(join(binDir, "spire-agent"));
}

export async function startSpire(options: StartSpireOptions = {}): Promise<Spire> {
  const binDir = await spireBinDir();
  const dir = mkdtempSync(join(tmpdir(), "pnsmgr-spire-"));
  const domains = new Map<string, RunningDomain>();
  const logLevel = options.logLevel ?? "WARN";
  const svidTtl = options.defaultX509SvidTtl ?? 3600;
  let markers = 0;

  const spire: Spire = {
    binDir,
    dir,
    domain: trustDomain => mustGet(domains, trustDomain).public,
    domains: () => [...domains.values()].map(d => d.public),

    async addDomain(trustDomain, addOptions = {}) {
      if (domains.has(trustDomain)) throw new Error(`SPIRE domain ${trustDomain} already runs`);
      const domain = await startServer(binDir, join(dir, trustDomain), trustDomain, logLevel, svidTtl);
      domains.set(trustDomain, domain);
      if (addOptions.federate ?? true) {
        for (const other of domains.values()) {
          if (other !== domain && other.federating) await federate(binDir, domain, other);
        }
        domain.federating = true;
      }
      await startAgent(binDir, domain, logLevel);
      return domain.public;
    },

    async createEntry(entry) {
      const domain = mustGet(domains, entry.trustDomain);
      const federatesWith = entry.federatesWith ?? [...domain.federatedWith];
      const args = [
        "entry", "create",
        "-socketPath", domain.public.serverSocket,
        "-parentID", domain.public.agentId,
        "-spiffeID", entry.spiffeId,
        ...entry.selectors.flatMap(s => ["-selector", s]),
        ...federatesWith.flatMap(td => ["-federatesWith", `spiffe://${td}`]),
        ...(entry.x509SvidTtl !== undefined ? ["-x509SVIDTTL", String(entry.x509SvidTtl)] : []),
        "-output", "json",
      ];
      const { stdout } = await run(join(binDir, "spire-server"), args);
      const entryId = parseEntryId(stdout);
      if (entry.wait ?? true) await spire.waitForSvid(entry.trustDomain, entry.spiffeId);
      return { entryId, spiffeId: entry.spiffeId, trustDomain: entry.trustDomain };
    },

    async deleteEntry(entry) {
      const domain = mustGet(domains, entry.trustDomain);
      await run(join(binDir, "spire-server"), ["entry", "delete", "-socketPath", domain.public.serverSocket, "-entryID", entry.entryId]);
    },

    async waitForSvid(trustDomain, spiffeId, timeoutMs = 20_000) {
      const domain = mustGet(domains, trustDomain);
      // The CLI only sees SVIDs of entries that select the CLI itself. For any other entry, register a
      // marker entry for the CLI after it: the agent syncs entries and mints their SVIDs in order, so
      // once the marker's SVID is served, the earlier entry's SVID has been minted as well.
      const seen = async (id: string) => (await spire.fetchX509(trustDomain).catch(() => undefined))?.svids.some(s => s.spiffeId === id) ?? false;
      if (await seen(spiffeId)) return;
      const marker = `${domain.public.id}/fixture/sync-marker-${++markers}`;
      await run(join(binDir, "spire-server"), [
        "entry", "create",
        "-socketPath", domain.public.serverSocket,
        "-parentID", domain.public.agentId,
        "-spiffeID", marker,
        ...spireAgentSelectors(binDir).flatMap(s => ["-selector", s]),
      ]);
      await waitFor(async () => (await seen(spiffeId)) || (await seen(marker)), timeoutMs, `the ${trustDomain} agent to serve ${spiffeId}`, () =>
        logTail(domain),
      );
    },

    async fetchX509(trustDomain) {
      const domain = mustGet(domains, trustDomain);
      const { stdout } = await run(join(binDir, "spire-agent"), ["api", "fetch", "x509", "-socketPath", domain.public.agentSocket, "-timeout", "2s", "-output", "json"], {
        timeoutMs: 5000,
      });
      return parseFetchX509(stdout);
    },

    async stopAgent(trustDomain) {
      await stopProcess(mustGet(domains, trustDomain).agent);
    },

    async restartAgent(trustDomain) {
      const domain = mustGet(domains, trustDomain);
      const { dir, agentSocket } = domain.public;
      rmSync(agentSocket, { force: true });
      domain.agent = spawnTracked(join(binDir, "spire-agent"), ["run", "-config", join(dir, "agent.conf")], join(dir, "agent.out"));
      await waitForSocket(agentSocket, domain.agent, `spire-agent ${trustDomain} (restarted)`, () => logTail(domain));
    },

    async stop() {
      await Promise.all([...domains.values()].flatMap(d => [stopProcess(d.agent), stopProcess(d.server)]));
      domains.clear();
      rmSync(dir, { recursive: true, force: true });
    },
  };

  try {
    // Servers first (in parallel), then the bundle exchange, then the agents (in parallel).
    const trustDomains = options.trustDomains ?? DEFAULT_TRUST_DOMAINS;
    const started = await Promise.all(trustDomains.map(td => startServer(binDir, join(dir, td), td, logLevel, svidTtl)));
    for (const domain of started) domains.set(domain.public.trustDomain, domain);
    for (const [i, a] of started.entries()) {
      for (const b of started.slice(i + 1)) await federate(binDir, a, b);
      a.federating = true;
    }
    await Promise.all(started.map(domain => startAgent(binDir, domain, logLevel)));
  } catch (error: unknown) {
    await spire.stop();
    throw error;
  }
  return spire;
}

// ---- one trust domain ----

interface RunningDomain {
  public: SpireDomain;
  server: ChildProcess;
  agent?: ChildProcess;
  federating: boolean;
  readonly federatedWith: Set<string>;
  agentId: string;
}

async function startServer(binDir: string, dir: string, trustDomain: string, logLevel: string, svidTtl: number): Promise<RunningDomain> {
  mkdirSync(join(dir, "server-data"), { recursive: true });
  mkdirSync(join(dir, "agent-data"), { recursive: true });
  const serverSocket = join(dir, "server.sock");
  const agentSocket = join(dir, "agent.sock");
  const federatedWith = new Set<string>();

  // The server's agent port is picked before it starts; if another process takes it first, try again.
  for (let attempt = 1; ; attempt++) {
    const serverPort = await freePort();
    const conf = join(dir, "server.conf");
    writeFileSync(
      conf,
      `server {
  bind_address = "127.0.0.1"
  bind_port = "${serverPort}"
  socket_path = "${serverSocket}"
  trust_domain = "${trustDomain}"
  data_dir = "${join(dir, "server-data")}"
  log_level = "${logLevel}"
  log_file = "${join(dir, "server.log")}"
  ca_key_type = "ec-p256"
  ca_ttl = "24h"
  default_x509_svid_ttl = "${svidTtl}s"
  experimental {
    cache_reload_interval = "1s"
  }
}
plugins {
  DataStore "sql" {
    plugin_data {
      database_type = "sqlite3"
      connection_string = "${join(dir, "server-data", "datastore.sqlite3")}"
    }
  }
  KeyManager "memory" {
    plugin_data {}
  }
  NodeAttestor "join_token" {
    plugin_data {}
  }
}
`,
    );
    const server = spawnTracked(join(binDir, "spire-server"), ["run", "-config", conf], join(dir, "server.out"));
    try {
      await waitForSocket(serverSocket, server, `spire-server ${trustDomain}`, () => readTail(join(dir, "server.log")));
    } catch (error: unknown) {
      await stopProcess(server);
      if (attempt < 3 && /address already in use/.test(readTail(join(dir, "server.log")))) continue;
      throw error;
    }
    const domain: RunningDomain = {
      server,
      federating: false,
      federatedWith,
      agentId: "",
      public: {
        trustDomain,
        id: `spiffe://${trustDomain}`,
        dir,
        serverSocket,
        agentSocket,
        endpointSocket: `unix://${agentSocket}`,
        get agentId() {
          return domain.agentId;
        },
        serverPort,
        federatedWith,
        bundlePem: async () => (await run(join(binDir, "spire-server"), ["bundle", "show", "-socketPath", serverSocket, "-format", "pem"])).stdout,
      },
    };
    return domain;
  }
}

/** Sets each domain's SPIFFE bundle into the other (static federation; the CA lives 24 h, longer than any test). */
async function federate(binDir: string, a: RunningDomain, b: RunningDomain): Promise<void> {
  const server = join(binDir, "spire-server");
  const show = async (d: RunningDomain) => (await run(server, ["bundle", "show", "-socketPath", d.public.serverSocket, "-format", "spiffe"])).stdout;
  const [bundleA, bundleB] = await Promise.all([show(a), show(b)]);
  await Promise.all([
    run(server, ["bundle", "set", "-socketPath", a.public.serverSocket, "-format", "spiffe", "-id", b.public.id], { input: bundleB }),
    run(server, ["bundle", "set", "-socketPath", b.public.serverSocket, "-format", "spiffe", "-id", a.public.id], { input: bundleA }),
  ]);
  a.federatedWith.add(b.public.trustDomain);
  b.federatedWith.add(a.public.trustDomain);
}

async function startAgent(binDir: string, domain: RunningDomain, logLevel: string): Promise<void> {
  const { dir, serverSocket, agentSocket, trustDomain, serverPort } = domain.public;
  const server = join(binDir, "spire-server");
  const token = /Token:\s*(\S+)/.exec((await run(server, ["token", "generate", "-socketPath", serverSocket, "-ttl", "600"])).stdout)?.[1];
  if (!token) throw new Error(`spire-server ${trustDomain}: token generate printed no token`);
  domain.agentId = `spiffe://${trustDomain}/spire/agent/join_token/${token}`;
  const bundlePath = join(dir, "bootstrap-bundle.pem");
  writeFileSync(bundlePath, await domain.public.bundlePem());
  const conf = join(dir, "agent.conf");
  writeFileSync(
    conf,
    `agent {
  data_dir = "${join(dir, "agent-data")}"
  log_level = "${logLevel}"
  log_file = "${join(dir, "agent.log")}"
  server_address = "127.0.0.1"
  server_port = "${serverPort}"
  socket_path = "${agentSocket}"
  trust_bundle_path = "${bundlePath}"
  trust_domain = "${trustDomain}"
  experimental {
    sync_interval = "1s"
  }
}
plugins {
  NodeAttestor "join_token" {
    plugin_data {}
  }
  KeyManager "disk" {
    plugin_data {
      directory = "${join(dir, "agent-data")}"
    }
  }
  WorkloadAttestor "unix" {
    plugin_data {
      discover_workload_path = true
      workload_size_limit = -1
    }
  }
}
`,
  );
  domain.agent = spawnTracked(join(binDir, "spire-agent"), ["run", "-config", conf, "-joinToken", token], join(dir, "agent.out"));
  await waitForSocket(agentSocket, domain.agent, `spire-agent ${trustDomain}`, () => logTail(domain));
}

function logTail(domain: RunningDomain): string {
  const { dir } = domain.public;
  return `server: ${readTail(join(dir, "server.log"))}\nagent: ${readTail(join(dir, "agent.log"))}${readTail(join(dir, "agent.out"))}`;
}

// ---- processes ----

function spawnTracked(command: string, args: string[], outFile: string): ChildProcess {
  const out = openSync(outFile, "a");
  const child = spawn("bash", ["-c", WATCHDOG, "spire-watchdog", command, ...args], {
    stdio: ["ignore", out, out],
    env: { ...process.env, SPIRE_FIXTURE_OWNER: String(process.pid) },
  });
  closeSync(out);
  child.on("error", () => {}); // surfaces through waitForSocket's exit check
  children.add(child);
  child.once("exit", () => children.delete(child));
  return child;
}

async function stopProcess(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>(resolve => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
  await exited;
  clearTimeout(timer);
}

interface RunOptions {
  readonly input?: string;
  readonly timeoutMs?: number;
}

function run(command: string, args: readonly string[], options: RunOptions = {}): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = execFile(command, args, { timeout: options.timeoutMs ?? 15_000, maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${command.split("/").pop()} ${args.slice(0, 2).join(" ")}: ${error.message.trim()}${stderr ? `\n${stderr.trim()}` : ""}`));
      else resolve({ stdout, stderr });
    });
    if (options.input !== undefined) child.stdin?.end(options.input);
    else child.stdin?.end();
  });
}

function waitForSocket(path: string, child: ChildProcess, what: string, diagnostics: () => string): Promise<void> {
  return waitFor(
    async () => {
      if (child.exitCode !== null || child.signalCode !== null) throw new ExitedError(`${what} exited (${child.exitCode ?? child.signalCode})`);
      return await new Promise<boolean>(resolve => {
        const socket = createConnection(path);
        socket.once("connect", () => {
          socket.destroy();
          resolve(true);
        });
        socket.once("error", () => resolve(false));
      });
    },
    START_TIMEOUT_MS,
    `${what} to listen on ${path}`,
    diagnostics,
  );
}

class ExitedError extends Error {}

/** Polls a SPIRE readiness check; a process that exited ends the wait at once, other errors mean "not yet". */
function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string, diagnostics: () => string): Promise<void> {
  return pollUntil(check, timeoutMs, what, { everyMs: 100, tolerate: error => !(error instanceof ExitedError), diagnostics });
}

function readTail(file: string, bytes = 2000): string {
  try {
    const text = readFileSync(file, "utf8");
    return text.slice(-bytes);
  } catch {
    return "";
  }
}

function mustGet<V>(map: Map<string, V>, key: string): V {
  const value = map.get(key);
  if (value === undefined) throw new Error(`no SPIRE domain ${key} (running: ${[...map.keys()].join(", ") || "none"})`);
  return value;
}

// ---- CLI output ----

function parseEntryId(stdout: string): string {
  const parsed = JSON.parse(stdout) as { results?: { status?: { code?: number; message?: string }; entry?: { id?: string } }[] };
  const result = parsed.results?.[0];
  if (!result?.entry?.id || (result.status?.code ?? 0) !== 0) throw new Error(`spire-server entry create: ${stdout.trim()}`);
  return result.entry.id;
}

interface FetchJson {
  svids?: { spiffe_id?: string; x509_svid?: string; bundle?: string }[];
  federated_bundles?: Record<string, string>;
}

/** `spire-agent api fetch x509 -output json`: the Workload API response as protojson (bytes as base64). */
export function parseFetchX509(stdout: string): FetchedX509 {
  const parsed = JSON.parse(stdout) as FetchJson;
  return {
    svids: (parsed.svids ?? []).map(svid => ({
      spiffeId: svid.spiffe_id ?? "",
      certificates: splitDer(Buffer.from(svid.x509_svid ?? "", "base64")),
      bundle: splitDer(Buffer.from(svid.bundle ?? "", "base64")),
    })),
    federatedBundles: new Map(Object.entries(parsed.federated_bundles ?? {}).map(([td, der]) => [td, splitDer(Buffer.from(der, "base64"))])),
  };
}

/** Concatenated DER certificates (the Workload API's encoding) split into one buffer per certificate. */
function splitDer(der: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let offset = 0;
  while (offset + 2 <= der.length) {
    // SEQUENCE, short or long form length.
    const first = der[offset + 1] ?? 0;
    let length: number;
    let header: number;
    if (first < 0x80) {
      length = first;
      header = 2;
    } else {
      const count = first & 0x7f;
      length = 0;
      for (let i = 0; i < count; i++) length = length * 256 + (der[offset + 2 + i] ?? 0);
      header = 2 + count;
    }
    out.push(der.subarray(offset, offset + header + length));
    offset += header + length;
  }
  return out;
}
