/**
 * A real `lib/main.ts` child process (the operating tests, the replicas of support/replicas.ts): started with the
 * variables given (the test's own NSM_/PNSMGR_/state variables removed first), its stderr kept, and
 * helpers to wait for a log line.
 */
import { LOOPBACK_ENV } from "./loopback.js";
import { type ChildProcess, spawn } from "node:child_process";
import { knownVariables } from "../../lib/config-report.js";
import { ROOT } from "./root.js";

const children = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of children) child.kill("SIGKILL");
});

export interface GatewayProcess {
  readonly child: ChildProcess;
  /** stderr so far. */
  log(): string;
  lines(): string[];
  /** The first line (after `from` lines) `match` accepts, within `ms`. */
  waitForLine(match: (line: string) => boolean, ms: number, what: string, from?: number): Promise<string>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal?: NodeJS.Signals): void;
}

/** `nodeArgs` go to node before the entry point (e.g. --max-old-space-size, a preload). */
export function startGatewayProcess(env: Record<string, string>, nodeArgs: readonly string[] = []): GatewayProcess {
  const known = knownVariables();
  const inherited: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!known.has(name) && !/^(NSM_|PNSMGR_|PROXY_NSMD_)/.test(name)) inherited[name] = value;
  }
  const child = spawn(process.execPath, ["--import", "tsx", ...nodeArgs, "lib/main.ts"], {
    cwd: ROOT,
    env: {
      ...inherited,
      PROXY_NSMD_API_ADDRESS: "127.0.0.1:0",
      PROXY_NSMD_K8S_ADDRESS: "127.0.0.1:0",
      NSM_MAP_IP_FILE_PATH: "/nonexistent/pnsmgr-test/map-ip.yaml",
      PNSMGR_CLUSTER_INFO_FILE: "/nonexistent/pnsmgr-test/clusterinfo.yaml",
      // Loopback is every test's world (the guard refuses it by default); plaintext v1 unless the test gives a SPIFFE socket.
      ...LOOPBACK_ENV,
      ...(env.SPIFFE_ENDPOINT_SOCKET === undefined ? { PNSMGR_INSECURE: "true" } : {}),
      ...env,
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
  const lines = () => log.split("\n").filter(line => line !== "");
  return {
    child,
    log: () => log,
    lines,
    exited,
    kill: signal => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal ?? "SIGKILL");
    },
    async waitForLine(match, ms, what, from = 0) {
      const deadline = Date.now() + ms;
      for (;;) {
        const found = lines().slice(from).find(match);
        if (found !== undefined) return found;
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`gateway exited (${child.exitCode ?? child.signalCode}) before ${what}:\n${log}`);
        if (Date.now() > deadline) throw new Error(`no ${what} within ${ms} ms:\n${log}`);
        await new Promise(resolve => setTimeout(resolve, 25));
      }
    },
  };
}

/** Kills what is left (call from test.afterEach.always). */
export async function killGatewayProcesses(): Promise<void> {
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
}
