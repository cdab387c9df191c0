/**
 * The house rule "no function in lib/ over 100 lines", checked on the syntax tree of every lib/ file:
 * function declarations and expressions, arrow functions, and class and object methods, each measured
 * from its first line to its last (nested functions count inside their parent too). TypeScript 7 has no
 * JavaScript compiler API, so the files are parsed with @babel/parser's typescript plugin.
 */
import test from "ava";
import { parse } from "@babel/parser";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const LIB = join(ROOT, "lib");
const MOST_LINES = 100;

const FUNCTION_TYPES = new Set([
  "FunctionDeclaration",
  "FunctionExpression",
  "ArrowFunctionExpression",
  "ClassMethod",
  "ClassPrivateMethod",
  "ObjectMethod",
]);

/** The parts of a babel node this test reads; the rest is walked generically. */
interface SyntaxNode {
  type: string;
  loc?: { start: { line: number }; end: { line: number } } | null;
  id?: SyntaxNode | null;
  key?: SyntaxNode;
  left?: SyntaxNode;
  name?: string;
  value?: unknown;
  [field: string]: unknown;
}

interface LongFunction {
  line: number;
  name: string;
  lines: number;
}

function isNode(value: unknown): value is SyntaxNode {
  return typeof value === "object" && value !== null && typeof (value as { type?: unknown }).type === "string";
}

/** A readable name for a key, identifier or member target; "" when there is none to show. */
function nameOf(node: SyntaxNode | null | undefined): string {
  if (!node) return "";
  if (node.type === "Identifier" || node.type === "PrivateName") return node.type === "PrivateName" ? `#${nameOf(node.id)}` : node.name ?? "";
  if (node.type === "StringLiteral" || node.type === "NumericLiteral") return String(node.value);
  if (node.type === "MemberExpression") return `${nameOf(node.object as SyntaxNode)}.${nameOf(node.property as SyntaxNode)}`;
  return "";
}

/** The function's own name, else the name it is bound to (variable, property, assignment), else the call it is passed to. */
function functionName(fn: SyntaxNode, parent: SyntaxNode | undefined): string {
  const own = nameOf(fn.id) || nameOf(fn.key);
  if (own) return own;
  if (!parent) return "<anonymous>";
  const bound = parent.type === "VariableDeclarator" ? nameOf(parent.id)
    : parent.type === "AssignmentExpression" ? nameOf(parent.left)
    : /Property$/.test(parent.type) ? nameOf(parent.key)
    : parent.type === "CallExpression" ? `<callback of ${nameOf(parent.callee as SyntaxNode) || "call"}>`
    : "";
  return bound || "<anonymous>";
}

/** Every function in the source longer than MOST_LINES lines, in source order. */
function longFunctions(source: string): LongFunction[] {
  const ast = parse(source, { sourceType: "module", plugins: ["typescript"] }) as unknown as SyntaxNode;
  const found: LongFunction[] = [];
  const walk = (node: SyntaxNode, parent: SyntaxNode | undefined) => {
    if (FUNCTION_TYPES.has(node.type) && node.loc) {
      const lines = node.loc.end.line - node.loc.start.line + 1;
      if (lines > MOST_LINES) found.push({ line: node.loc.start.line, name: functionName(node, parent), lines });
    }
    for (const [field, value] of Object.entries(node)) {
      if (field === "loc" || field.endsWith("Comments")) continue;
      for (const child of Array.isArray(value) ? value : [value]) if (isNode(child)) walk(child, node);
    }
  };
  walk(ast, undefined);
  return found;
}

function files(dir: string): string[] {
  return readdirSync(dir).flatMap(name => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : name.endsWith(".ts") ? [path] : [];
  });
}

/** A function of the given kind whose text spans exactly `lines` lines. */
function synthetic(lines: number, wrap: (body: string) => string): string {
  const body = Array.from({ length: lines - 2 }, (_, i) => `  const v${i} = ${i};`).join("\n");
  return wrap(body);
}

test("the measure flags a 101-line function of each kind and passes a 100-line one", t => {
  const kinds: Array<[string, (body: string) => string]> = [
    ["declared", body => `export function declared(): void {\n${body}\n}\n`],
    ["arrow", body => `const arrow = (): void => {\n${body}\n};\n`],
    ["expression", body => `const expression = function (): void {\n${body}\n};\n`],
    ["method", body => `class Holder {\n  method(): void {\n${body}\n  }\n}\n`],
    ["property", body => `const holder = {\n  property(): void {\n${body}\n  },\n};\n`],
  ];
  for (const [name, wrap] of kinds) {
    t.deepEqual(longFunctions(synthetic(101, wrap)).map(f => [f.name, f.lines]), [[name, 101]], name);
    t.deepEqual(longFunctions(synthetic(100, wrap)), [], name);
  }
});

test("no function in lib/ is over 100 lines", t => {
  const all = files(LIB);
  t.true(all.length > 100, `${all.length} files`);
  const over = all.flatMap(file =>
    longFunctions(readFileSync(file, "utf8")).map(f => `lib/${relative(LIB, file)}:${f.line} ${f.name} ${f.lines} lines`),
  );
  t.deepEqual(over, []);
});
