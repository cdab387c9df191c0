/**
 * Fuzzing every method of every listener of a real gateway process (fast-check, seeded): structured
 * mutations of valid messages (hostile strings: huge, unicode, NUL, '@', ':'; many segments, many
 * labels, odd numbers, missing parts) and byte-level mutations of their encodings, sent raw with an
 * identity serializer, many at a time on one connection per listener. Asserted for every call: it
 * ends with a status before its deadline (streams that stay open by design excepted), never UNKNOWN,
 * never INTERNAL except grpc-js's own "could not deserialize", a status message of at most ~1 KB;
 * and for the run: the process lives, health stays SERVING, RSS stays bounded.
 *
 * FUZZ_SEED=<n> replays another seed (fast-check prints the failing seed and path); FUZZ_RUNS=<n>
 * sets the batches of BATCH calls (default: 210 batches of 48, 10,080 calls); FUZZ_ONLY=<text> keeps
 * the methods whose path (or listener, "seed" / "v1") contains it. The gateway runs with
 * spec/support/loopback-only.ts preloaded, so no input can make it dial off the machine, and with a
 * V8 heap of FUZZ_HEAP_MB (384): memory that is not bounded ends the process and fails the run.
 */
import test from "ava";
import fc from "fast-check";
import { readFileSync } from "node:fs";
import { Client, Metadata, credentials, status } from "@grpc/grpc-js";
import { NetworkServiceService } from "../../generated/nsm/networkservice.js";
import { MonitorConnectionService } from "../../generated/nsm/connection.js";
import { HealthCheckResponse_ServingStatus, HealthService } from "../../generated/nsm/health.js";
import { NetworkServiceEndpointRegistryService, NetworkServiceRegistryService as V1RegistryService, NetworkService, NetworkServiceEndpoint } from "../../generated/nsm/registry.js";
import { NSERegistration, NetworkServiceDiscoveryService, NetworkServiceRegistryService as SeedRegistryService } from "../../generated/seed/registry.js";
import { ClusterInfoService } from "../../generated/seed/clusterinfo.js";
import { EventQuery, EventsService } from "../../generated/pnsmgr/admin.js";
import { callUnary, closeAll } from "../support/grpc.js";
import { startFakeNsmgr } from "../support/fake-nsmgr.js";
import { startFakeV1Nsmgr } from "../support/fake-v1-nsmgr.js";
import { startFakeNseRegistry } from "../support/fake-v1-registry-lite.js";
import { type Replica, startReplicas, stopReplicas } from "../support/replicas.js";
import { seedRequest } from "../support/seed-requests.js";
import { fwdRequest, fwdToken } from "./connection-v1/_topology.js";
import { segment } from "../support/wire.js";

const SEED = Number(process.env.FUZZ_SEED ?? 20_261_202);
const RUNS = Number(process.env.FUZZ_RUNS ?? 210);
const BATCH = 48;
// A unary call that gets no answer within this long counts as a hang. 8 s, not less: CI runs this next
// to other test files on two cores, and a hostile call that is merely slow there is no hang.
const UNARY_DEADLINE_MS = 8000;
const OPEN_STREAM_DEADLINE_MS = 400;

test.after.always(async () => {
  await stopReplicas();
  await closeAll();
});

interface Target {
  readonly listener: "seed" | "v1";
  readonly path: string;
  readonly kind: "unary" | "server" | "bidi";
  /** Streams that may stay open by design (monitor, watch, follow): they end at our deadline. */
  readonly open?: boolean;
  readonly base: unknown;
  readonly encode: (message: never) => Buffer;
  readonly metadata?: () => Record<string, string>;
}

interface MethodLike {
  path: string;
  requestStream: boolean;
  responseStream: boolean;
  requestSerialize: (value: never) => Buffer;
}

function target(listener: Target["listener"], method: MethodLike, base: unknown, extra: Partial<Target> = {}): Target {
  const kind = method.requestStream ? "bidi" : method.responseStream ? "server" : "unary";
  return { listener, path: method.path, kind, base, encode: method.requestSerialize, ...extra };
}

/** One sandbox token for the whole run (made once in test.before: jose signs asynchronously); it outlives the run. */
let sandboxToken: Record<string, string> = {};
test.before(async () => {
  sandboxToken = await fwdToken(3_600_000);
});

function targets(remote: string): Target[] {
  const seedConn = seedRequest(`nsmgr-2@${remote}`);
  const registration = NSERegistration.fromPartial({
    networkService: { name: "icmp", payload: "IP" },
    networkServiceManager: { name: "nsmgr-1", url: "10.1.0.5:5001" },
    networkServiceEndpoint: { name: "nse-1", networkServiceName: "icmp", networkServiceManagerName: "nsmgr-1", labels: { app: "icmp" } },
  });
  const v1Request = fwdRequest({ networkServiceEndpointName: "nse", networkService: "ns" });
  const v1Token = () => sandboxToken;
  const ns = NetworkService.fromPartial({ name: "ns@domain-2", payload: "ETHERNET" });
  const nse = NetworkServiceEndpoint.fromPartial({ name: "nse-1@domain-2", networkServiceNames: ["ns@domain-2"], url: "tcp://127.0.0.1:5001", networkServiceLabels: { "ns@domain-2": { labels: { app: "x" } } } });
  const health = { service: "" };
  const events = EventQuery.fromPartial({ limit: 5 });
  return [
    target("seed", NetworkServiceService.request, seedConn),
    target("seed", NetworkServiceService.close, seedConn.connection),
    target("seed", MonitorConnectionService.monitorConnections, { pathSegments: [segment("nsmgr-1", ""), segment(`nsmgr-2@${remote}`, "")], networkServices: [] }, { open: true }),
    target("seed", NetworkServiceDiscoveryService.findNetworkService, { networkServiceName: "icmp@127.0.0.1:1" }),
    target("seed", SeedRegistryService.registerNse, registration),
    target("seed", SeedRegistryService.bulkRegisterNse, registration),
    target("seed", SeedRegistryService.removeNse, { networkServiceEndpointName: "nse-1" }),
    target("seed", ClusterInfoService.getNodeIpConfiguration, { nodeName: "node-1", internalIP: "", externalIP: "" }),
    target("seed", HealthService.check, health),
    target("seed", HealthService.watch, health, { open: true }),
    target("seed", EventsService.read, events, { open: true }),
    target("v1", NetworkServiceService.request, v1Request, { metadata: v1Token }),
    target("v1", NetworkServiceService.close, v1Request.connection, { metadata: v1Token }),
    target("v1", MonitorConnectionService.monitorConnections, { pathSegments: [segment("fwd-1", "fwd-1-id")], networkServices: [] }, { open: true }),
    target("v1", V1RegistryService.register, ns),
    target("v1", V1RegistryService.find, { networkService: ns, watch: false }, { open: true }),
    target("v1", V1RegistryService.unregister, ns),
    target("v1", NetworkServiceEndpointRegistryService.register, nse),
    target("v1", NetworkServiceEndpointRegistryService.find, { networkServiceEndpoint: nse, watch: false }, { open: true }),
    target("v1", NetworkServiceEndpointRegistryService.unregister, nse),
    target("v1", HealthService.check, health),
    target("v1", HealthService.watch, health, { open: true }),
    target("v1", EventsService.read, events, { open: true }),
  ];
}

// ---- structured mutations -------------------------------------------------------------------

type Node = { path: (string | number)[]; kind: "string" | "number" | "boolean" | "array" | "object" };

function nodes(value: unknown, path: (string | number)[] = [], out: Node[] = []): Node[] {
  if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") out.push({ path, kind: typeof value as Node["kind"] });
  else if (Array.isArray(value)) {
    out.push({ path, kind: "array" });
    value.forEach((v, i) => nodes(v, [...path, i], out));
  } else if (typeof value === "object" && value !== null && !(value instanceof Date)) {
    if (path.length > 0) out.push({ path, kind: "object" });
    for (const [k, v] of Object.entries(value)) nodes(v, [...path, k], out);
  }
  return out;
}

const hostileString = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom("", "@", ":", "@@", "a@", "@b", "a@b@c", "::", "[::1]:1", "127.0.0.1:1", "localhost:1", "nsmgr@127.0.0.1:1", "nsmgr@localhost:1", "\0", "a\0b", "💥", "\uD800", "%00%ff", "../..", "tcp://", "tcp://[::ffff:127.0.0.1]:1", "x@169.254.169.254:80", "x@0x7f.1:1") },
  { weight: 3, arbitrary: fc.string({ unit: "grapheme", maxLength: 64 }) },
  { weight: 3, arbitrary: fc.string({ unit: fc.constantFrom("@", ":", "a", ".", "\0", "/", "[", "]", "%", "é", "1"), maxLength: 64 }) },
  { weight: 1, arbitrary: fc.integer({ min: 1000, max: 1_100_000 }).map(n => "n".repeat(n)) },
);
const hostileNumber = fc.constantFrom(0, 1, 2, 7, 65_535, 2 ** 31 - 1, 2 ** 32 - 1);

function edit(node: Node) {
  switch (node.kind) {
    case "string":
      return hostileString;
    case "number":
      return hostileNumber;
    case "boolean":
      return fc.boolean();
    case "array":
      return fc.nat({ max: 300 }).map(n => ({ repeat: n }));
    case "object":
      return fc.oneof(fc.constant(undefined), fc.dictionary(hostileString.filter(s => s.length < 2000), hostileString.filter(s => s.length < 2000), { maxKeys: 100 }).map(entries => ({ entries })));
  }
}

function applyEdits(base: unknown, edits: { node: Node; value: unknown }[]): unknown {
  const copy = structuredClone(base) as Record<string | number, unknown>;
  // Lists grow first (copies of the valid elements), so that a huge string lands in one element only.
  const order = (e: { node: Node }) => (e.node.kind === "array" ? 0 : 1);
  for (const { node, value } of [...edits].sort((a, b) => order(a) - order(b))) {
    let parent: Record<string | number, unknown> | undefined = copy;
    for (const key of node.path.slice(0, -1)) parent = parent?.[key] as Record<string | number, unknown> | undefined;
    const key = node.path.at(-1);
    if (parent === undefined || key === undefined) continue;
    const current = parent[key];
    if (node.kind === "array" && Array.isArray(current)) {
      const { repeat } = value as { repeat: number };
      parent[key] = current.length === 0 ? [] : Array.from({ length: repeat }, (_, i) => structuredClone(current[i % current.length]));
    } else if (node.kind === "object" && value !== undefined) {
      parent[key] = { ...(current as object), ...(value as { entries: object }).entries };
    } else parent[key] = value;
  }
  return copy;
}

// ---- byte mutations -------------------------------------------------------------------------

const byteOp = fc.oneof(
  fc.record({ op: fc.constant("flip" as const), at: fc.nat(), n: fc.nat({ max: 7 }) }),
  fc.record({ op: fc.constant("set" as const), at: fc.nat(), n: fc.nat({ max: 255 }) }),
  fc.record({ op: fc.constant("insert" as const), at: fc.nat(), bytes: fc.uint8Array({ maxLength: 16 }) }),
  fc.record({ op: fc.constant("delete" as const), at: fc.nat(), n: fc.nat({ max: 16 }) }),
  fc.record({ op: fc.constant("truncate" as const), at: fc.nat() }),
  fc.record({ op: fc.constant("repeat" as const), at: fc.nat(), n: fc.nat({ max: 64 }) }),
);
type ByteOp = typeof byteOp extends fc.Arbitrary<infer T> ? T : never;

function mutateBytes(bytes: Buffer, ops: ByteOp[]): Buffer {
  let b = Buffer.from(bytes);
  for (const o of ops) {
    const at = b.length === 0 ? 0 : o.at % (b.length + 1);
    if (o.op === "flip" && at < b.length) b[at] = b[at]! ^ (1 << o.n);
    else if (o.op === "set" && at < b.length) b[at] = o.n;
    else if (o.op === "insert") b = Buffer.concat([b.subarray(0, at), Buffer.from(o.bytes), b.subarray(at)]);
    else if (o.op === "delete") b = Buffer.concat([b.subarray(0, at), b.subarray(at + o.n)]);
    else if (o.op === "truncate") b = b.subarray(0, at);
    else if (o.op === "repeat") {
      const chunk = b.subarray(at, at + 8);
      b = Buffer.concat([b.subarray(0, at), ...Array.from({ length: o.n }, () => chunk), b.subarray(at)]);
    }
  }
  return b;
}

// ---- calls ------------------------------------------------------------------------------------

interface Outcome {
  readonly code: number;
  readonly details: string;
  readonly ms: number;
}

const identity = (b: Buffer) => b;

function send(client: Client, t: Target, payload: Buffer): Promise<Outcome> {
  const started = Date.now();
  const deadline = started + (t.open ? OPEN_STREAM_DEADLINE_MS : UNARY_DEADLINE_MS);
  const metadata = new Metadata();
  for (const [k, v] of Object.entries(t.metadata?.() ?? {})) metadata.set(k, v);
  return new Promise(resolve => {
    const done = (code: number, details: string) => resolve({ code, details, ms: Date.now() - started });
    if (t.kind === "unary") {
      client.makeUnaryRequest(t.path, identity, identity, payload, metadata, { deadline }, error => done(error ? error.code : status.OK, error?.details ?? ""));
      return;
    }
    const call = t.kind === "bidi" ? client.makeBidiStreamRequest(t.path, identity, identity, metadata, { deadline }) : client.makeServerStreamRequest(t.path, identity, identity, payload, metadata, { deadline });
    // A stream that answers has taken its request: an open one is let go at once (it ends CANCELLED).
    call.on("data", () => {
      if (t.open) call.cancel();
    });
    call.on("error", () => undefined);
    call.on("status", s => done(s.code, s.details));
    if (t.kind === "bidi") {
      const bidi = call as ReturnType<Client["makeBidiStreamRequest"]>;
      bidi.write(payload);
      bidi.end();
    }
  });
}

function problem(t: Target, o: Outcome): string | undefined {
  if (o.code === status.UNKNOWN) return "UNKNOWN";
  if (o.code === status.INTERNAL && !/deserializ/i.test(o.details)) return "INTERNAL outside decoding";
  if (o.code === status.DEADLINE_EXCEEDED && !t.open) return "no answer before the deadline";
  if (o.ms > (t.open ? OPEN_STREAM_DEADLINE_MS : UNARY_DEADLINE_MS) + 1000) return `ended ${o.ms} ms after it started`;
  if (o.details.length > 1100) return `a status message of ${o.details.length} characters`;
  return undefined;
}

function rssKb(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? Number.NaN);
}

test.serial(`every method of every listener, ${RUNS * BATCH} fuzzed messages (seed ${SEED}): defined statuses, the gateway lives and serves`, async t => {
  t.timeout(240_000);
  const remote = await startFakeNsmgr({ name: "nsmgr-2" });
  const nsmgr = await startFakeV1Nsmgr({ name: "nsmgr-2", endpoints: ["nse"] });
  const registry = await startFakeNseRegistry({ nse: nsmgr.url });
  const [gateway] = (await startReplicas({
    redisUrl: "",
    name: "fuzz-proxy",
    count: 1,
    nodeArgs: ["--import", "./spec/support/loopback-only.ts", `--max-old-space-size=${process.env.FUZZ_HEAP_MB ?? 384}`],
    env: { NSM_REGISTRY_URL: registry.url, PNSMGR_DNS_SERVER: "127.0.0.1:1", PNSMGR_ADMIN_EVENTS: "public" },
  })) as [Replica];
  let exited = false;
  void gateway.exited.then(() => (exited = true));
  const all = targets(remote.address).filter(tg => !process.env.FUZZ_ONLY || tg.path.includes(process.env.FUZZ_ONLY) || tg.listener === process.env.FUZZ_ONLY);
  const clients = { seed: new Client(gateway.apiAddress, credentials.createInsecure()), v1: new Client(gateway.v1Address, credentials.createInsecure()) };
  t.teardown(() => Object.values(clients).forEach(c => c.close()));

  const callArb = fc.nat({ max: all.length - 1 }).chain(i => {
    const tg = all[i]!;
    const leaves = nodes(tg.base);
    const structured = fc
      .array(fc.nat({ max: leaves.length - 1 }).chain(n => edit(leaves[n]!).map(value => ({ node: leaves[n]!, value }))), { minLength: 1, maxLength: 3 })
      .map(edits => ({ how: "structured" as const, edits }));
    const bytes = fc.array(byteOp, { minLength: 1, maxLength: 6 }).map(ops => ({ how: "bytes" as const, ops }));
    return fc.tuple(fc.constant(i), fc.oneof(structured, bytes));
  });

  const encodeOf = (tg: Target, message: unknown): Buffer => {
    try {
      return tg.encode(message as never);
    } catch {
      return tg.encode(tg.base as never);
    }
  };
  const tally = new Map<string, number>();
  let failure: Error | undefined;
  let sent = 0;
  const run = async (batch: [number, { how: "structured"; edits: { node: Node; value: unknown }[] } | { how: "bytes"; ops: ByteOp[] }][]) => {
    const outcomes = await Promise.all(
      batch.map(async ([i, mutation]) => {
        const tg = all[i]!;
        const payload = mutation.how === "bytes" ? mutateBytes(encodeOf(tg, tg.base), mutation.ops) : encodeOf(tg, applyEdits(tg.base, mutation.edits));
        const outcome = await send(clients[tg.listener], tg, payload);
        return { tg, outcome, how: mutation.how };
      }),
    );
    sent += outcomes.length;
    for (const { tg, outcome, how } of outcomes) {
      const key = `${status[outcome.code]}`;
      tally.set(key, (tally.get(key) ?? 0) + 1);
      const wrong = problem(tg, outcome);
      if (wrong) throw failure = new Error(`${tg.listener} ${tg.path} (${how} mutation): ${wrong}: ${status[outcome.code]} ${JSON.stringify(outcome.details.slice(0, 200))}`);
    }
    if (exited) throw failure = new Error(`the gateway exited:\n${gateway.log().slice(-2000)}`);
  };

  // Warm up (the first calls open channels and load code), then take the RSS baseline.
  await run(all.map((_, i) => [i, { how: "bytes", ops: [] }]));
  const rssBefore = rssKb(gateway.pid!);
  const started = Date.now();
  try {
    await fc.assert(fc.asyncProperty(fc.array(callArb, { minLength: BATCH, maxLength: BATCH }), run), { seed: SEED, numRuns: RUNS, endOnFailure: true });
  } catch (error: unknown) {
    // fast-check's report names the seed and path (replay: FUZZ_SEED, and fc's `path`); the batch itself is long.
    const report = (error as Error).message;
    throw new Error(`${failure?.message ?? "fuzz run failed"}\n${report.slice(0, report.indexOf("Counterexample"))}`);
  }
  if (exited || gateway.pid === undefined) throw new Error(`the gateway exited:\n${gateway.log().slice(-3000)}`);
  const rssAfter = rssKb(gateway.pid);
  const seconds = (Date.now() - started) / 1000;

  const health = await Promise.all([gateway.apiAddress, gateway.v1Address].map(address => callUnary(address, HealthService.check, { service: "" })));
  t.true(health.every(h => h.status === HealthCheckResponse_ServingStatus.SERVING), "health stays SERVING on both listeners");
  const refused = gateway.log().match(/loopback-only: refused/g)?.length ?? 0;
  t.log(`${sent} calls in ${seconds.toFixed(1)} s; statuses ${JSON.stringify(Object.fromEntries(tally))}; RSS ${(rssBefore / 1024).toFixed(0)} → ${(rssAfter / 1024).toFixed(0)} MB; ${refused} off-loopback dials/lookups refused by the harness`);
  t.true(sent >= RUNS * BATCH);
  t.true(rssAfter < rssBefore + 256 * 1024, `RSS grew from ${rssBefore} kB to ${rssAfter} kB`);
});
