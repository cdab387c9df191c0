/**
 * The real CLI from source (`node --import tsx lib/main.ts`; the image runs its build, see
 * image.spec.ts): a bad setting stops it with exit code 2 and one line; a good one serves
 * grpc.health.v1 on both printed listeners; SIGTERM drains and exits 0.
 */
import test from "ava";
import { type ChildProcess, spawn } from "node:child_process";
import { OPTIONS } from "../../lib/config.js";
import { HealthCheckResponse_ServingStatus, HealthService } from "../../generated/nsm/health.js";
import { callUnary, closeAll } from "../support/grpc.js";
import { LOOPBACK_ENV } from "../support/loopback.js";
import { within } from "../support/wait.js";
import { ROOT } from "../support/root.js";


interface Cli {
  readonly child: ChildProcess;
  /** Everything written to stderr so far (the logger writes there). */
  stderr(): string;
  stdout(): string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const children = new Set<ChildProcess>();

/** Starts the CLI with only the given pnsmgr variables set (inherited ones are removed). */
function startCli(vars: Record<string, string>): Cli {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const option of OPTIONS) delete env[option.env];
  const child = spawn(process.execPath, ["--import", "tsx", "lib/main.ts"], {
    cwd: ROOT,
    env: { ...env, ...vars },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.add(child);
  let stderr = "";
  let stdout = "";
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>(resolve =>
    child.on("exit", (code, signal) => {
      children.delete(child);
      resolve({ code, signal });
    }),
  );
  return { child, stderr: () => stderr, stdout: () => stdout, exited };
}

/** Waits for a log line containing `text`; fails early when the process exits first. */
async function lineWith(cli: Cli, text: string, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const line = cli.stderr().split("\n").find(l => l.includes(text));
    if (line !== undefined) return line;
    if (cli.child.exitCode !== null || cli.child.signalCode !== null) {
      throw new Error(`exited (${cli.child.exitCode ?? cli.child.signalCode}) before logging "${text}":\n${cli.stderr()}`);
    }
    if (Date.now() > deadline) throw new Error(`no "${text}" within ${timeoutMs} ms:\n${cli.stderr()}`);
    await new Promise(r => setTimeout(r, 25));
  }
}

test.afterEach.always(async () => {
  await closeAll();
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
  children.clear();
});

test.serial("a bad setting exits with code 2 and one line naming the variable", async t => {
  t.timeout(30_000);
  const cli = startCli({ PROXY_NSMD_K8S_REMOTE_PORT: "abc" });
  const { code } = await within(cli.exited, 25_000, "exit");
  t.is(code, 2);
  const stderr = cli.stderr();
  t.true(stderr.endsWith("\n"), JSON.stringify(stderr));
  const lines = stderr.slice(0, -1).split("\n");
  t.is(lines.length, 1, stderr);
  t.regex(lines[0] ?? "", /PROXY_NSMD_K8S_REMOTE_PORT/);
  t.is(cli.stdout(), "");
});

test.serial("neither SPIFFE_ENDPOINT_SOCKET nor PNSMGR_INSECURE=true: start-up refuses with one line naming both", async t => {
  t.timeout(30_000);
  const cases: Record<string, string>[] = [{}, { PNSMGR_INSECURE: "true", SPIFFE_ENDPOINT_SOCKET: "unix:///nonexistent/agent.sock" }];
  for (const vars of cases) {
    const cli = startCli(vars);
    const { code } = await within(cli.exited, 25_000, "exit");
    t.is(code, 2, JSON.stringify(vars));
    const lines = cli.stderr().trimEnd().split("\n");
    t.is(lines.length, 1, cli.stderr());
    t.regex(lines[0] ?? "", /SPIFFE_ENDPOINT_SOCKET/);
    t.regex(lines[0] ?? "", /PNSMGR_INSECURE/);
  }
});

test.serial("it serves health on every printed listener (seed 5006, 5005, v1 and admin) and SIGTERM exits 0", async t => {
  t.timeout(45_000);
  const cli = startCli({ PROXY_NSMD_API_ADDRESS: "127.0.0.1:0", PROXY_NSMD_K8S_ADDRESS: "127.0.0.1:0", NSM_LISTEN_ON: "tcp://127.0.0.1:0", PNSMGR_INSECURE: "true", ...LOOPBACK_ENV });
  const line = await lineWith(cli, "pnsmgr serving", 25_000);
  t.regex(cli.stderr(), /INSECURE MODE \(PNSMGR_INSECURE=true\)/, "insecure mode says so at start");
  const connections = /\bconnections=(\S+)/.exec(line)?.[1];
  const registry = /\bregistry=(\S+)/.exec(line)?.[1];
  const v1 = /\bv1=(\S+)/.exec(line)?.[1];
  const admin = /\badmin=(\S+)/.exec(line)?.[1];
  if (!connections || !registry || !v1 || !admin) return t.fail(`no addresses in: ${line}`);
  t.regex(admin, /^127\.0\.0\.1:[1-9]\d*$/);
  t.regex(connections, /^127\.0\.0\.1:[1-9]\d*$/);
  t.regex(registry, /^127\.0\.0\.1:[1-9]\d*$/);
  t.not(connections, registry);

  for (const address of [connections, registry, v1, admin]) {
    const answer = await callUnary(address, HealthService.check, { service: "" }, { deadlineMs: 5000 });
    t.is(answer.status, HealthCheckResponse_ServingStatus.SERVING, address);
  }
  await closeAll();

  const started = Date.now();
  cli.child.kill("SIGTERM");
  const { code, signal } = await within(cli.exited, 5000, "exit after SIGTERM");
  t.is(signal, null);
  t.is(code, 0, cli.stderr());
  t.true(Date.now() - started < 5000);
});
