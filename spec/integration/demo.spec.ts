/** `npm run demo` is the newcomer's first run: it must keep working, so it runs here as a child process. */
import test from "ava";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));

test.serial("the demo walks every step and exits 0", async t => {
  t.timeout(60_000);
  const child = spawn(process.execPath, ["--import", "tsx", "scripts/demo.ts"], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  t.teardown(() => {
    if (child.exitCode === null) child.kill("SIGKILL");
  });
  const code = await new Promise<number | null>(resolve => child.on("exit", resolve));
  t.is(code, 0, output);
  t.regex(output, /demo: every step worked/);
  t.notRegex(output, /FAIL/);
  t.true((output.match(/^ {3}ok {3}/gm) ?? []).length >= 22, "every check printed ok");
  t.regex(output, /NSM v1 interdomain/, "the v1 walk ran too");
});
