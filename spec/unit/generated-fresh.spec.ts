/**
 * generated/ is what scripts/gen.sh makes from protos/ today. The script runs in a temporary copy of
 * the inputs (protos/, buf.gen.yaml, scripts/gen.sh, node_modules linked), never in the real tree.
 */
import test from "ava";
import { execFile } from "node:child_process";
import { cp, mkdir, mkdtemp, readFile, readdir, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { promisify } from "node:util";
import { ROOT } from "../support/root.js";

const run = promisify(execFile);

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter(e => e.isFile())
    .map(e => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

test("generated/ matches a fresh scripts/gen.sh run byte for byte", async t => {
  t.timeout(60_000);
  const work = await mkdtemp(join(tmpdir(), "pnsmgr-gen-"));
  try {
    await cp(join(ROOT, "protos"), join(work, "protos"), { recursive: true });
    await cp(join(ROOT, "buf.gen.yaml"), join(work, "buf.gen.yaml"));
    await cp(join(ROOT, "package.json"), join(work, "package.json"));
    await mkdir(join(work, "scripts"));
    await cp(join(ROOT, "scripts", "gen.sh"), join(work, "scripts", "gen.sh"));
    await symlink(join(ROOT, "node_modules"), join(work, "node_modules"), "dir");

    try {
      await run("bash", [join(work, "scripts", "gen.sh")], { cwd: work, timeout: 55_000, maxBuffer: 16 * 1024 * 1024 });
    } catch (error: unknown) {
      const e = error as { message: string; stderr?: string };
      return t.fail(`scripts/gen.sh failed: ${e.stderr || e.message}`);
    }

    const fresh = join(work, "generated");
    const checked = join(ROOT, "generated");
    const [freshFiles, checkedFiles] = await Promise.all([filesUnder(fresh), filesUnder(checked)]);
    const stale: string[] = [];
    for (const file of new Set([...freshFiles, ...checkedFiles])) {
      if (!checkedFiles.includes(file)) stale.push(`${file} (missing from generated/)`);
      else if (!freshFiles.includes(file)) stale.push(`${file} (no longer generated)`);
      else if (!(await readFile(join(fresh, file))).equals(await readFile(join(checked, file)))) stale.push(`${file} (differs)`);
    }
    t.true(freshFiles.length > 0, "gen.sh produced no files");
    t.deepEqual(stale, [], `generated/ is stale, run \`npm run gen\`:\n  ${stale.join("\n  ")}`);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
});
