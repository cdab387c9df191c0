/**
 * Response headers and trailers across real grpc-js hops on loopback: caller → proxy (the server
 * bridges, a chain, the client pool) → next hop. The next hop sends headers and trailers on unary,
 * server-streaming and bidi calls, on success and on failure; an element in the proxy that asks for
 * them (receiveNextHopResponse) sees them and relays them to the caller under its own names, with a
 * header and trailer of its own. Without such an element nothing of the next hop's reaches the caller.
 */
import test from "ava";
import { Client, Metadata, type ServerDuplexStream, type ServerUnaryCall, type ServerWritableStream, type StatusObject, type sendUnaryData, credentials, status } from "@grpc/grpc-js";
import { type Observable, tap } from "rxjs";
import { chain, named, type Element, type Handler } from "../../../lib/pipeline/element.js";
import { receiveNextHopResponse } from "../../../lib/pipeline/next-hop-response.js";
import { createClientPool } from "../../../lib/transport/grpc/client-pool.js";
import { serveBidiStream, serveServerStream, serveUnary } from "../../../lib/transport/grpc/server-bridge.js";
import { trustedDestination } from "../../../lib/guard/destination-guard.js";
import {
  NetworkServiceEndpoint,
  NetworkServiceEndpointQuery,
  NetworkServiceEndpointRegistryService as NSE,
  type NetworkServiceEndpointResponse,
} from "../../../generated/nsm/registry.js";
import { NSERegistration, NetworkServiceRegistryService as SeedRegistry } from "../../../generated/seed/registry.js";
import { closeAll, startTestServer } from "../../support/grpc.js";

test.afterEach.always(async () => {
  await closeAll();
});

const md = (entries: Record<string, string>) => {
  const m = new Metadata();
  for (const [k, v] of Object.entries(entries)) m.set(k, v);
  return m;
};
const text = (m: Metadata | undefined) => Object.fromEntries(Object.entries(m?.getMap() ?? {}).filter(([k]) => k.startsWith("x-")));

/** The next hop: headers `x-hop: <what>` and trailers `x-hop-end: <what>`; a name "fail" fails with trailers. */
async function startNextHop() {
  const failWith = (what: string): Partial<StatusObject> & Error =>
    Object.assign(new Error("failed on purpose"), { code: status.FAILED_PRECONDITION, details: "failed on purpose", metadata: md({ "x-hop-end": `${what}-failed` }) });
  return startTestServer([
    [
      NSE,
      {
        register: (call: ServerUnaryCall<NetworkServiceEndpoint, NetworkServiceEndpoint>, callback: sendUnaryData<NetworkServiceEndpoint>) => {
          call.sendMetadata(md({ "x-hop": "unary" }));
          if (call.request.name === "fail") return callback(failWith("unary"));
          callback(null, call.request, md({ "x-hop-end": "unary" }));
        },
        find: (call: ServerWritableStream<NetworkServiceEndpointQuery, NetworkServiceEndpointResponse>) => {
          call.sendMetadata(md({ "x-hop": "stream" }));
          const nse = call.request.networkServiceEndpoint;
          call.write({ networkServiceEndpoint: nse, deleted: false });
          if (nse?.name === "fail") return void call.emit("error", failWith("stream"));
          call.write({ networkServiceEndpoint: nse, deleted: true });
          call.end(md({ "x-hop-end": "stream" }));
        },
      },
    ],
    [
      SeedRegistry,
      {
        bulkRegisterNse: (call: ServerDuplexStream<NSERegistration, NSERegistration>) => {
          call.sendMetadata(md({ "x-hop": "bidi" }));
          call.on("data", (r: NSERegistration) => call.write(r));
          call.on("end", () => call.end(md({ "x-hop-end": "bidi" })));
        },
      },
    ],
  ]);
}

/**
 * Relays the next hop's x-hop header as x-relayed-hop and its x-hop-end trailer as x-relayed-end (both
 * as soon as they are known: a unary call's trailers are there with its value), adds x-proxy to both,
 * and records when it saw what.
 */
function relaying<Req, Res>(seen: string[]): Element<Req, Res> {
  return named("relaying", next => (req, ctx) => {
    ctx.response.headers.set("x-proxy", "header");
    ctx.response.trailers.set("x-proxy", "trailer");
    return receiveNextHopResponse(next, req, ctx, (responses, received) => {
      const copy = (when: string) => {
        seen.push(`${when}: header=${received.headers.get("x-hop") ?? "-"} trailer=${received.trailers.get("x-hop-end") ?? "-"}`);
        const header = received.headers.get("x-hop");
        if (header !== undefined) ctx.response.headers.set("x-relayed-hop", header);
        const trailer = received.trailers.get("x-hop-end");
        if (trailer !== undefined) ctx.response.trailers.set("x-relayed-end", trailer);
      };
      return responses.pipe(tap({ next: () => copy("value"), complete: () => copy("complete"), error: () => copy("error") }));
    });
  });
}

/** A proxy in front of `nextHop` whose chains hold `elements`. */
async function startProxy(nextHop: string, elements: () => Element<unknown, unknown>[]) {
  const pool = createClientPool();
  const to = trustedDestination(nextHop);
  const unary: Handler<NetworkServiceEndpoint, NetworkServiceEndpoint> = (req, ctx) => pool.unary(to, NSE.register, req, ctx);
  const stream: Handler<NetworkServiceEndpointQuery, NetworkServiceEndpointResponse> = (req, ctx) => pool.serverStream(to, NSE.find, req, ctx);
  const bidi: Handler<Observable<NSERegistration>, NSERegistration> = (req, ctx) => pool.bidiStream(to, SeedRegistry.bulkRegisterNse, req, ctx);
  const wrap = <Req, Res>(terminal: Handler<Req, Res>) => chain(...(elements() as Element<Req, Res>[]))(terminal);
  const server = await startTestServer([
    [NSE, { register: serveUnary(wrap(unary)), find: serveServerStream(wrap(stream)) }],
    [SeedRegistry, { bulkRegisterNse: serveBidiStream(wrap(bidi)) }],
  ]);
  return { address: server.address, close: () => pool.close() };
}

interface Received {
  /** "headers {...}", "message", "status <code> {...}" in the order the caller saw them. */
  readonly events: string[];
  headers: Record<string, unknown>;
  trailers: Record<string, unknown>;
  code?: number;
}

function watch(call: NodeJS.EventEmitter, done: (r: Received) => void): Received {
  const r: Received = { events: [], headers: {}, trailers: {} };
  call.on("metadata", (m: Metadata) => {
    r.headers = text(m);
    r.events.push(`headers ${JSON.stringify(r.headers)}`);
  });
  call.on("data", () => r.events.push("message"));
  call.on("error", () => undefined);
  call.on("status", (s: StatusObject) => {
    r.trailers = text(s.metadata);
    r.code = s.code;
    r.events.push(`status ${s.code} ${JSON.stringify(r.trailers)}`);
    done(r);
  });
  return r;
}

function callUnary(client: Client, name: string): Promise<Received> {
  return new Promise(resolve => {
    const call = client.makeUnaryRequest(NSE.register.path, NSE.register.requestSerialize, NSE.register.responseDeserialize, NetworkServiceEndpoint.fromPartial({ name }), new Metadata(), { deadline: Date.now() + 10_000 }, () => undefined);
    watch(call, resolve);
  });
}

function callStream(client: Client, name: string): Promise<Received> {
  return new Promise(resolve => {
    const query = NetworkServiceEndpointQuery.fromPartial({ networkServiceEndpoint: { name }, watch: false });
    const call = client.makeServerStreamRequest(NSE.find.path, NSE.find.requestSerialize, NSE.find.responseDeserialize, query, new Metadata(), { deadline: Date.now() + 10_000 });
    watch(call, resolve);
  });
}

function callBidi(client: Client): Promise<Received> {
  return new Promise(resolve => {
    const m = SeedRegistry.bulkRegisterNse;
    const call = client.makeBidiStreamRequest(m.path, m.requestSerialize, m.responseDeserialize, new Metadata(), { deadline: Date.now() + 10_000 });
    watch(call, resolve);
    call.write(NSERegistration.fromPartial({}));
    call.write(NSERegistration.fromPartial({}));
    call.end();
  });
}

async function setUp(t: { teardown(f: () => void): void }, elements: (seen: string[]) => Element<unknown, unknown>[]) {
  const nextHop = await startNextHop();
  const seen: string[] = [];
  const proxy = await startProxy(nextHop.address, () => elements(seen));
  const client = new Client(proxy.address, credentials.createInsecure());
  t.teardown(() => {
    client.close();
    proxy.close();
  });
  return { client, seen };
}

test.serial("unary: the element sees the next hop's headers and trailers with its answer; the caller gets what it relays and sets", async t => {
  const { client, seen } = await setUp(t, seen => [relaying(seen)]);
  const r = await callUnary(client, "nse-1");
  t.is(r.code, status.OK);
  t.deepEqual(r.headers, { "x-proxy": "header", "x-relayed-hop": "unary" });
  t.deepEqual(r.trailers, { "x-proxy": "trailer", "x-relayed-end": "unary" });
  t.deepEqual(seen, ["value: header=unary trailer=unary"]);
});

test.serial("unary failure: the next hop's trailers reach the element before the error, and go to the caller with the status", async t => {
  const { client, seen } = await setUp(t, seen => [relaying(seen)]);
  const r = await callUnary(client, "fail");
  t.is(r.code, status.FAILED_PRECONDITION);
  t.deepEqual(r.trailers, { "x-proxy": "trailer", "x-relayed-end": "unary-failed" });
  t.deepEqual(seen, ["error: header=unary trailer=unary-failed"]);
});

test.serial("server stream: headers reach the caller before the first message, trailers with the status", async t => {
  const { client, seen } = await setUp(t, seen => [relaying(seen)]);
  const r = await callStream(client, "nse-1");
  t.deepEqual(r.events, ['headers {"x-proxy":"header","x-relayed-hop":"stream"}', "message", "message", 'status 0 {"x-proxy":"trailer","x-relayed-end":"stream"}']);
  t.deepEqual(seen, ["value: header=stream trailer=-", "value: header=stream trailer=-", "complete: header=stream trailer=stream"]);
});

test.serial("server stream failure: the next hop's trailers reach the element before the error and the caller with the status", async t => {
  const { client, seen } = await setUp(t, seen => [relaying(seen)]);
  const r = await callStream(client, "fail");
  t.is(r.code, status.FAILED_PRECONDITION);
  t.deepEqual(r.trailers, { "x-proxy": "trailer", "x-relayed-end": "stream-failed" });
  t.deepEqual(seen, ["value: header=stream trailer=-", "error: header=stream trailer=stream-failed"]);
});

test.serial("bidi stream: headers and trailers relayed both ways round", async t => {
  const { client, seen } = await setUp(t, seen => [relaying(seen)]);
  const r = await callBidi(client);
  t.deepEqual(r.events, ['headers {"x-proxy":"header","x-relayed-hop":"bidi"}', "message", "message", 'status 0 {"x-proxy":"trailer","x-relayed-end":"bidi"}']);
  t.is(seen.at(-1), "complete: header=bidi trailer=bidi");
});

test.serial("a header set after the first message is not sent (headers go once, before the messages)", async t => {
  // Set before each message goes on: "x-first" before the first one, "x-second" only after it was sent.
  const late = named<unknown, unknown>("late", next => (req, ctx) => {
    let count = 0;
    return next(req, ctx).pipe(tap(() => ctx.response.headers.set(++count === 1 ? "x-first" : "x-second", String(count))));
  });
  const { client } = await setUp(t, () => [late]);
  const r = await callStream(client, "nse-1");
  t.is(r.code, status.OK);
  t.deepEqual(r.headers, { "x-first": "1" });
});

test.serial("without an element that relays them, nothing of the next hop's headers or trailers reaches the caller", async t => {
  const { client } = await setUp(t, () => []);
  for (const r of [await callUnary(client, "nse-1"), await callStream(client, "nse-1"), await callBidi(client), await callUnary(client, "fail")]) {
    t.deepEqual(r.headers, {});
    t.deepEqual(r.trailers, {});
  }
});
