/**
 * What the image runs, short of `docker build` (no image registry is reachable here): the emit build
 * (tsconfig.build.json) compiles lib/ and generated/ to JavaScript, and that JavaScript runs with
 * plain node (node IPs from a Kubernetes API, as deployed) next to production dependencies only, laid out as `npm ci --omit=dev` would (every
 * top-level package of package-lock.json not marked dev, linked into a fresh node_modules and
 * resolved with --preserve-symlinks, so nothing reaches the repository's dev packages): the gateway
 * serves health on its three listeners and drains on SIGTERM, and the `pnsmgr` CLI answers --help and
 * reads the running gateway's event log; idle, the gateway's RSS stays under the manifests' memory
 * request. `npm start` runs the same entry point (built into dist/) and its SIGTERM drains it.
 */
import { LOOPBACK_ENV } from "../support/loopback.js";
import test from "ava";
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { OPTIONS } from "../../lib/config.js";
import { HealthCheckResponse_ServingStatus, HealthService } from "../../generated/nsm/health.js";
import { callUnary, closeAll } from "../support/grpc.js";
import { waitFor } from "../support/wait.js";
import { type Resource, renderOverlay } from "../support/kustomize.js";
import { startFakeKubeApi } from "../support/fake-kube-api.js";
import { ROOT } from "../support/root.js";

// Outside the repository, so that resolution walking up from the app never reaches its node_modules.
const WORK = mkdtempSync(join(tmpdir(), "pnsmgr-image-spec-"));
const APP = join(WORK, "app");
const run = promisify(execFile);

interface Lock {
  packages: Record<string, { dev?: boolean; link?: boolean }>;
}

/** The top-level packages `npm ci --omit=dev` installs. */
function productionPackages(): string[] {
  const lock = JSON.parse(readFileSync(join(ROOT, "package-lock.json"), "utf8")) as Lock;
  return Object.entries(lock.packages)
    .filter(([path, entry]) => /^node_modules\/(@[^/]+\/)?[^/]+$/.test(path) && entry.dev !== true)
    .map(([path]) => path.slice("node_modules/".length));
}

// Serial tests: afterEach kills the children of the test that ended, not those of one still running.
const children = new Set<ChildProcess>();

/** Every file under dir (symlinked packages not followed). */
const listFiles = (dir: string) => readdirSync(dir, { recursive: true }).map(String).sort();

/** `node --preserve-symlinks <file>` in the production-only app directory, pnsmgr's variables cleared. */
function node(file: string, args: string[], vars: Record<string, string> = {}) {
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_OPTIONS: "" };
  for (const option of OPTIONS) delete env[option.env];
  return { env: { ...env, ...vars }, argv: ["--preserve-symlinks", "--preserve-symlinks-main", join(APP, file), ...args] };
}

test.before(async () => {
  // The same emit build `npm run build` runs, into a scratch outDir.
  await run(process.execPath, [join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.build.json", "--outDir", join(APP, "dist")], { cwd: ROOT });
  cpSync(join(ROOT, "package.json"), join(APP, "package.json"));
  for (const name of productionPackages()) {
    const target = join(APP, "node_modules", name);
    mkdirSync(dirname(target), { recursive: true });
    symlinkSync(join(ROOT, "node_modules", name), target, "dir");
  }
});

test.afterEach.always(async () => {
  await closeAll();
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  children.clear();
});

test.after.always(() => rmSync(WORK, { recursive: true, force: true }));

test.serial("the production dependencies hold no TypeScript runner or compiler", t => {
  const production = productionPackages();
  t.true(production.includes("@grpc/grpc-js") && production.includes("rxjs"), production.join(", "));
  for (const dev of ["tsx", "typescript", "ava", "esbuild"]) t.false(production.includes(dev), dev);
});

test.serial("the built gateway runs on production dependencies: health on every listener, SIGTERM exits 0", async t => {
  t.timeout(45_000);
  // As deployed: node IPs from a Kubernetes API (spec/support/fake-kube-api.ts), so that
  // @kubernetes/client-node, loaded only for it, is loaded here too.
  const api = await startFakeKubeApi();
  t.teardown(() => api.close());
  api.setNode("node-1", [{ type: "InternalIP", address: "10.0.0.1" }, { type: "ExternalIP", address: "203.0.113.1" }]);
  const { env, argv } = node("dist/lib/main.js", [], {
    PROXY_NSMD_API_ADDRESS: "127.0.0.1:0",
    PROXY_NSMD_K8S_ADDRESS: "127.0.0.1:0",
    NSM_LISTEN_ON: "tcp://127.0.0.1:0",
    PNSMGR_NODE_SOURCE: "kubernetes",
    ...LOOPBACK_ENV,
    PNSMGR_INSECURE: "true",
    KUBECONFIG: api.kubeconfigPath,
    // Nowhere to write, as on the image's read-only root: nothing may need a home or temp directory.
    HOME: "/nonexistent/pnsmgr-home",
    TMPDIR: "/nonexistent/pnsmgr-tmp",
  });
  const child = spawn(process.execPath, argv, { cwd: APP, env, stdio: ["ignore", "pipe", "pipe"] });
  children.add(child);
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>(resolve => child.on("exit", code => resolve(code)));
  const filesBefore = listFiles(APP);
  const ended = () => child.exitCode !== null || child.signalCode !== null;
  await waitFor(() => stderr.includes("pnsmgr serving") || ended(), 25_000, "pnsmgr serving");
  const line = stderr.split("\n").find(l => l.includes("pnsmgr serving"));
  if (line === undefined) return t.fail(`the built gateway did not start:\n${stderr}`);
  const addresses = ["connections", "registry", "v1"].map(key => new RegExp(`\\b${key}=(\\S+)`).exec(line)?.[1]);
  t.is(addresses.filter(a => a !== undefined).length, 3, line);
  t.regex(line, /\bnodes=1\b/, "the node list from the API before serving");
  for (const address of addresses) {
    const answer = await callUnary(address ?? "", HealthService.check, { service: "" }, { deadlineMs: 5000 });
    t.is(answer.status, HealthCheckResponse_ServingStatus.SERVING, address);
  }

  // Idle, it fits in the memory the manifests request for it (Redis, which adds ~8 MiB, aside).
  const rss = Number(/^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${child.pid}/status`, "utf8"))?.[1]) * 1024;
  const request = renderOverlay("v1").flatMap(r => (r.kind === "Deployment" ? [r as Resource & { spec: { template: { spec: { containers: { resources?: { requests?: { memory?: string } } }[] } } } }] : []))[0]?.spec.template.spec.containers[0]?.resources?.requests?.memory;
  t.log(`idle RSS of the built gateway: ${(rss / 1024 ** 2).toFixed(1)} MiB (memory request ${request})`);
  t.regex(request ?? "", /^\d+Mi$/);
  t.true(rss > 0 && rss < Number.parseInt(request ?? "0", 10) * 1024 ** 2, `idle RSS ${rss} bytes exceeds the request ${request}`);

  // The CLI, built, reads this gateway's (empty) event log through its admin service (on the admin listener).
  const admin = /\badmin=(\S+)/.exec(line)?.[1] ?? "";
  const cli = node("dist/lib/cli/pnsmgr.js", ["events", "--gateway", admin, "--json"]);
  const events = await run(process.execPath, cli.argv, { cwd: APP, env: cli.env });
  t.is(events.stdout, "");

  await closeAll();
  child.kill("SIGTERM");
  t.is(await exited, 0, stderr);
  t.deepEqual(listFiles(APP), filesBefore, "the gateway wrote nothing next to its code");
});

test.serial("the built CLI answers --help with its commands", async t => {
  const { env, argv } = node("dist/lib/cli/pnsmgr.js", ["--help"]);
  const { stdout, stderr } = await run(process.execPath, argv, { cwd: APP, env });
  t.regex(stdout + stderr, /usage: pnsmgr <command>/);
  t.regex(stdout + stderr, /\bserve\b[\s\S]*\bevents\b/);
});

test.serial("the built CLI starts with the shebang node runs it by (no TypeScript loader)", t => {
  const first = readFileSync(join(APP, "dist", "lib", "cli", "pnsmgr.js"), "utf8").split("\n")[0];
  t.is(first, "#!/usr/bin/env node");
});

test.serial("npm start builds and runs the same entry point, and its SIGTERM drains the gateway", async t => {
  t.timeout(90_000);
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_OPTIONS: "" };
  for (const option of OPTIONS) delete env[option.env];
  Object.assign(env, { PROXY_NSMD_API_ADDRESS: "127.0.0.1:0", PROXY_NSMD_K8S_ADDRESS: "127.0.0.1:0", NSM_LISTEN_ON: "tcp://127.0.0.1:0", PNSMGR_INSECURE: "true", ...LOOPBACK_ENV });
  const npm = spawn("npm", ["start", "--silent"], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
  children.add(npm);
  let output = "";
  npm.stdout.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  npm.stderr.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  const exited = new Promise<number | null>(resolve => npm.on("exit", code => resolve(code)));
  await waitFor(() => output.includes("pnsmgr serving") || npm.exitCode !== null, 60_000, "pnsmgr serving");
  const line = output.split("\n").find(l => l.includes("pnsmgr serving"));
  if (line === undefined) return t.fail(output);
  // The process serving is node running dist/lib/main.js, npm's direct child (exec).
  const served = /\bconnections=(\S+)/.exec(line)?.[1] ?? "";
  t.is((await callUnary(served, HealthService.check, { service: "" }, { deadlineMs: 5000 })).status, HealthCheckResponse_ServingStatus.SERVING);
  const childPids = readFileSync(`/proc/${npm.pid}/task/${npm.pid}/children`, "utf8").trim().split(/\s+/);
  t.deepEqual(
    childPids.map(pid => readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean).slice(-1)),
    [["dist/lib/main.js"]],
  );
  await closeAll();
  npm.kill("SIGTERM");
  t.is(await exited, 0, output);
  t.regex(output, /draining signal=SIGTERM/);
});
