/**
 * The Dockerfile, package.json and the emit build agree (spec/integration/image.spec.ts runs what
 * they build): a Node LTS base, a build stage that compiles and a runtime stage with production
 * dependencies only, the image's CMD and `npm start` running the same built entry point, the `pnsmgr`
 * command pointing at the built CLI, a numeric non-root user, and every listener's port exposed.
 */
import test from "ava";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { ROOT } from "../support/root.js";

const read = (file: string) => readFileSync(join(ROOT, file), "utf8");

const ENTRY = "dist/lib/main.js";
const CLI = "dist/lib/cli/pnsmgr.js";

interface Instruction {
  readonly keyword: string;
  readonly args: string;
}
/** Instructions, continuation lines joined, comments dropped, grouped by stage (FROM starts one). */
function stages(text: string): Instruction[][] {
  const out: Instruction[][] = [];
  for (const line of text.replace(/\\\n/g, " ").split("\n").map(l => l.trim())) {
    if (line === "" || line.startsWith("#")) continue;
    const [keyword = "", ...rest] = line.split(/\s+/);
    const instruction = { keyword: keyword.toUpperCase(), args: rest.join(" ") };
    if (instruction.keyword === "FROM") out.push([]);
    out.at(-1)?.push(instruction);
  }
  return out;
}

const dockerStages = stages(read("Dockerfile"));
const runtime = dockerStages.at(-1) ?? [];
const pkg = JSON.parse(read("package.json")) as { scripts: Record<string, string>; bin: Record<string, string>; dependencies: Record<string, string>; devDependencies: Record<string, string>; engines: { node: string } };
const tsconfig = parse(read("tsconfig.build.json")) as { extends?: string; compilerOptions: Record<string, unknown>; include: string[] };

test("every stage builds FROM a Node LTS image (22 or 24)", t => {
  t.true(dockerStages.length >= 2, "a build stage and a runtime stage");
  for (const stage of dockerStages) t.regex(stage[0]?.args ?? "", /^node:(22|24)[.\-\w]*(\s+AS\s+\w+)?$/i);
});

test("the build stage installs every dependency and runs npm run build", t => {
  const build = dockerStages[0] ?? [];
  const runs = build.filter(i => i.keyword === "RUN").map(i => i.args);
  t.true(runs.some(r => /\bnpm ci\b/.test(r) && !/--omit=dev/.test(r)), runs.join(" | "));
  t.true(runs.some(r => /\bnpm run build\b/.test(r)), runs.join(" | "));
});

test("the runtime stage holds production dependencies and the built dist/ only", t => {
  const runs = runtime.filter(i => i.keyword === "RUN").map(i => i.args);
  t.true(runs.some(r => /\bnpm ci\b.*--omit=dev/.test(r)), runs.join(" | "));
  const copies = runtime.filter(i => i.keyword === "COPY").map(i => i.args);
  t.true(copies.some(c => /^--from=\S+\s+\S*dist\s+\S*dist$/.test(c)), copies.join(" | "));
  for (const c of copies) t.notRegex(c, /(^|\s)(\.\/)?(lib|generated|spec|scripts)(\s|$)/, `runtime COPY ${c}`);
});

test("the image's CMD and npm start run the same built entry point with plain node", t => {
  const cmd = runtime.filter(i => i.keyword === "CMD").at(-1)?.args ?? "";
  t.deepEqual(JSON.parse(cmd), ["node", ENTRY]);
  // exec: npm's SIGTERM reaches node itself (sh would die and leave node running, undrained).
  t.regex(pkg.scripts.start ?? "", new RegExp(`&& exec node ${ENTRY.replace(/\./g, "\\.")}$`));
  t.regex(pkg.scripts.start ?? "", /npm run build/);
});

test("the pnsmgr command is the built CLI, in package.json and on the image's PATH", t => {
  t.deepEqual(pkg.bin, { pnsmgr: CLI });
  const runs = runtime.filter(i => i.keyword === "RUN").map(i => i.args);
  t.true(runs.some(r => r.includes(`ln -s /app/${CLI} /usr/local/bin/pnsmgr`)), runs.join(" | "));
  t.is(read("lib/cli/pnsmgr.ts").split("\n")[0], "#!/usr/bin/env node");
});

test("the runtime user is numeric and not root", t => {
  const user = runtime.filter(i => i.keyword === "USER").at(-1)?.args ?? "";
  t.regex(user, /^\d+(:\d+)?$/);
  t.false(user.split(":").includes("0"), user);
});

test("the three listeners' ports are exposed", t => {
  const exposed = runtime.filter(i => i.keyword === "EXPOSE").flatMap(i => i.args.split(/\s+/).map(p => Number(p.replace(/\/tcp$/, ""))));
  t.deepEqual([...exposed].sort(), [5004, 5005, 5006]);
});

test("the emit build compiles lib/ and generated/ into dist/, which git ignores", t => {
  t.is(tsconfig.extends, "./tsconfig.json");
  t.is(tsconfig.compilerOptions.outDir, "dist");
  t.is(tsconfig.compilerOptions.noEmit, false);
  t.deepEqual([...tsconfig.include].sort(), ["generated", "lib"]);
  t.is(pkg.scripts.build, "tsc -p tsconfig.build.json");
  t.true(read(".gitignore").split("\n").includes("dist/"));
});

test("tsx is a dev dependency and nothing under lib/ imports it", t => {
  t.false("tsx" in pkg.dependencies);
  t.true("tsx" in pkg.devDependencies);
  for (const entry of readdirSync(join(ROOT, "lib"), { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !entry.name.endsWith(".ts")) continue;
    t.notRegex(readFileSync(join(entry.parentPath, entry.name), "utf8"), /from\s+["']tsx|import\s+["']tsx|--import[= ]tsx/, entry.name);
  }
});

/** Bare package imports of runtime code (type-only imports are erased and need nothing). */
function runtimeImports(dir: string): Set<string> {
  const found = new Set<string>();
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !entry.name.endsWith(".ts")) continue;
    const text = readFileSync(join(entry.parentPath, entry.name), "utf8");
    for (const match of text.matchAll(/^\s*(import|export)\s+(type\s+)?(?:[^;]*?\sfrom\s+)?["']([^"']+)["']/gm)) {
      const [, , typeOnly, specifier] = match;
      if (typeOnly || !specifier || specifier.startsWith(".") || specifier.startsWith("node:")) continue;
      const parts = specifier.split("/");
      found.add(specifier.startsWith("@") ? parts.slice(0, 2).join("/") : (parts[0] ?? specifier));
    }
  }
  return found;
}

test("the image's `npm ci --omit=dev` holds every package lib/ and generated/ import", t => {
  const production = new Set(Object.keys(pkg.dependencies));
  const needed = new Set([...runtimeImports(join(ROOT, "lib")), ...runtimeImports(join(ROOT, "generated"))]);
  t.true(needed.has("@grpc/grpc-js") && needed.has("rxjs"), `import scan found only ${[...needed].join(", ")}`);
  const missing = [...needed].filter(p => !production.has(p));
  t.deepEqual(missing, [], `not in package.json dependencies: ${missing.join(", ")}`);
});
