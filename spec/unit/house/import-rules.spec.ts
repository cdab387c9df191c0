/**
 * The house rules of shared/DESIGN.md, checked on the import graph of lib/ (static imports, `export …
 * from` and dynamic `import()` alike, type-only ones included: a type import is still a dependency of
 * the design): only transport/ and server.ts speak grpc-js, only the Redis store speaks ioredis,
 * pipeline/ knows nothing else of lib/, transport/ knows no plane, the planes do not import each
 * other, and there are no import circles.
 */
import test from "ava";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const LIB = join(ROOT, "lib");

function files(dir: string): string[] {
  return readdirSync(dir).flatMap(name => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : name.endsWith(".ts") ? [path] : [];
  });
}

const SPECIFIER = /(?:^|[\s;])(?:import|export)\s[^'"`;]*?from\s*["']([^"']+)["']|import\s*\(\s*["']([^"']+)["']\s*\)|^import\s*["']([^"']+)["']/gm;

/** lib-relative file -> what it imports: lib-relative files for local imports, package names otherwise. */
function graph(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const file of files(LIB)) {
    const text = readFileSync(file, "utf8");
    const imports: string[] = [];
    for (const match of text.matchAll(SPECIFIER)) {
      const spec = match[1] ?? match[2] ?? match[3];
      if (!spec) continue;
      if (spec.startsWith(".")) {
        const target = relative(LIB, resolve(dirname(file), spec)).replace(/\.js$/, ".ts");
        imports.push(target);
      } else imports.push(spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : spec.split("/")[0]!);
    }
    out.set(relative(LIB, file), imports);
  }
  return out;
}

const imports = graph();
/** An import of a file inside lib/ (generated/ and packages are outside). */
const local = (target: string) => !target.startsWith("..") && target.endsWith(".ts");

function violations(rule: (file: string, target: string) => boolean): string[] {
  return [...imports].flatMap(([file, targets]) => targets.filter(target => rule(file, target)).map(target => `${file} -> ${target}`));
}

test("the graph is read (sanity: every file found, every import inside lib/ resolves to a file)", t => {
  t.true(imports.size > 100, `${imports.size} files`);
  t.deepEqual(violations((_, target) => local(target) && !imports.has(target)), []);
});

test("only transport/ and server.ts import @grpc/grpc-js", t => {
  t.deepEqual(violations((file, target) => target === "@grpc/grpc-js" && !file.startsWith("transport/") && file !== "server.ts"), []);
});

test("only the Redis store (state/redis/) imports ioredis", t => {
  t.deepEqual(violations((file, target) => target === "ioredis" && !file.startsWith("state/redis/")), []);
});

test("pipeline/ imports nothing else from lib/", t => {
  t.deepEqual(violations((file, target) => file.startsWith("pipeline/") && local(target) && !target.startsWith("pipeline/")), []);
});

test("transport/ is a base layer: it knows no plane and nothing that assembles planes", t => {
  const above = /^(planes\/|proxy\.ts$|gateway\.ts$|server\.ts$|main\.ts$|cli\/|admin\/)/;
  t.deepEqual(violations((file, target) => file.startsWith("transport/") && above.test(target)), []);
});

test("the planes do not import each other", t => {
  const planeOf = (path: string) => /^planes\/([^/]+)\//.exec(path)?.[1];
  t.deepEqual(violations((file, target) => planeOf(file) !== undefined && planeOf(target) !== undefined && planeOf(file) !== planeOf(target)), []);
});

test("no import circles", t => {
  // Tarjan's strongly connected components over the local graph; any component of two or more files is a circle.
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const circles: string[][] = [];
  let next = 0;
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of (imports.get(v) ?? []).filter(target => imports.has(target))) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1) circles.push(component.sort());
    }
  };
  for (const file of imports.keys()) if (!index.has(file)) visit(file);
  t.deepEqual(circles, []);
});
