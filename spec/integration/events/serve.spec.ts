/**
 * `pnsmgr serve` is the gateway lib/main.ts runs (configured by the environment, SIGTERM drains and
 * exits 0), and `pnsmgr events` reads the event log of that separate process through its listeners.
 */
import test from "ava";
import { killClis, runEventsCli, startPnsmgr } from "./_support.js";
import { within } from "../../support/wait.js";
import { LOOPBACK_ENV } from "../../support/loopback.js";

test.afterEach.always(() => killClis());

test.serial("pnsmgr serve runs the gateway; pnsmgr events reaches it on its admin listener, not on the public ones; SIGTERM exits 0", async t => {
  t.timeout(30_000);
  const serve = startPnsmgr(["serve"], { PROXY_NSMD_API_ADDRESS: "127.0.0.1:0", PROXY_NSMD_K8S_ADDRESS: "127.0.0.1:0", NSM_LISTEN_ON: "tcp://127.0.0.1:0", PNSMGR_INSECURE: "true", ...LOOPBACK_ENV });
  const deadline = Date.now() + 20_000;
  let line: string | undefined;
  while (!(line = serve.stderr().split("\n").find(l => l.includes("pnsmgr serving")))) {
    if (Date.now() > deadline || serve.child.exitCode !== null) return t.fail(`not serving:\n${serve.stderr()}`);
    await new Promise(r => setTimeout(r, 25));
  }
  t.regex(line, /store=memory/);
  const [admin = "", ...publicAddresses] = ["admin", "connections", "registry", "v1"].map(name => new RegExp(`\\b${name}=(\\S+)`).exec(line!)?.[1] ?? "");
  t.regex(admin, /^127\.0\.0\.1:[1-9]\d*$/);
  const [byFlag, byEnv, ...onPublic] = await Promise.all([
    runEventsCli(["--gateway", admin]),
    runEventsCli([], { PNSMGR_ADMIN_LISTEN_ON: admin }),
    ...publicAddresses.map(address => runEventsCli(["--gateway", address])),
  ]);
  for (const replay of [byFlag!, byEnv!]) {
    t.is(replay.code, 0, replay.stderr);
    t.deepEqual(replay.lines, [], "no monitor event has crossed it yet");
  }
  for (const replay of onPublic) {
    t.is(replay.code, 1);
    t.regex(replay.stderr, /does not serve \/pnsmgr\.admin\.Events\/Read/);
  }

  const usage = await within(startPnsmgr(["serve", "--port", "1"]).exited, 10_000, "serve with arguments");
  t.is(usage.code, 2);

  serve.child.kill("SIGTERM");
  const exit = await within(serve.exited, 8000, "exit after SIGTERM");
  t.deepEqual(exit, { code: 0, signal: null }, serve.stderr());
});
