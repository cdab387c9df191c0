/**
 * Bench child: a minimal remote-domain v0 NSMgr (NetworkService + MonitorConnection) plus that
 * domain's ClusterInfo, on one grpc-js server on 127.0.0.1 port 0.
 *
 * Why not spec/support/fake-nsmgr.ts: that fake keeps every Request, peer and connection in arrays
 * (memory grows for the whole run, which skews a throughput figure) and has no way to publish a burst
 * of N events on demand. This one keeps nothing per call and is driven over stdin/stdout:
 *
 *   stdout, once:  ready 127.0.0.1:PORT
 *   stdin:         emit N STREAMS   wait until STREAMS monitor streams are open, write N UPDATE events
 *                                  to every open stream, honouring each stream's backpressure
 *   stdout:        emitted N MS     (MS: time spent writing, not delivery time)
 *
 * The answers mimic the seed's remote NSMgr as far as the proxy can tell (bare name in path segment 1,
 * bare service name, first mechanism preference selected, dst_ip filled in) so the proxied path runs
 * every rewrite it runs in production.
 */
import { createInterface } from "node:readline";
import {
  Server,
  ServerCredentials,
  type ServerUnaryCall,
  type ServerWritableStream,
  type ServiceError,
  type sendUnaryData,
  status,
} from "@grpc/grpc-js";
import { type Connection, type ConnectionEvent, ConnectionEventType, MonitorConnectionService, type MonitorScopeSelector } from "../../generated/nsm/connection.js";
import { NetworkServiceService, type NetworkServiceRequest } from "../../generated/nsm/networkservice.js";
import { ClusterInfoService, type NodeIPConfiguration } from "../../generated/seed/clusterinfo.js";
import { BENCH_REMOTE_NAME, REMOTE_NODE, benchEvent, seedRemoteAnswer } from "./shapes.js";

let nextId = 0;
const monitors = new Set<ServerWritableStream<MonitorScopeSelector, ConnectionEvent>>();

const fail = (callback: sendUnaryData<never>, code: status, details: string) => callback({ code, details, name: "", message: details } as ServiceError);

function request(call: ServerUnaryCall<NetworkServiceRequest, Connection>, callback: sendUnaryData<Connection>) {
  const answer = seedRemoteAnswer(call.request, () => `${BENCH_REMOTE_NAME}-conn-${++nextId}`);
  if (typeof answer === "string") return fail(callback, status.INVALID_ARGUMENT, answer);
  callback(null, answer);
}

function monitorConnections(call: ServerWritableStream<MonitorScopeSelector, ConnectionEvent>) {
  // Empty initial state: the bench counts only UPDATE events, and a subscriber seeing its
  // INITIAL_STATE_TRANSFER is how the bench knows the stream is attached.
  call.write({ type: ConnectionEventType.INITIAL_STATE_TRANSFER, connections: {} });
  monitors.add(call);
  call.on("cancelled", () => monitors.delete(call));
  call.on("close", () => monitors.delete(call));
}

function getNodeIpConfiguration(call: ServerUnaryCall<NodeIPConfiguration, NodeIPConfiguration>, callback: sendUnaryData<NodeIPConfiguration>) {
  if (call.request.internalIP === REMOTE_NODE.internalIP || call.request.nodeName === REMOTE_NODE.nodeName) callback(null, REMOTE_NODE);
  else fail(callback, status.NOT_FOUND, "node was not found");
}

/** Resolves when a stream that refused a write drains, or goes away; leaves no listener behind. */
function writable(call: ServerWritableStream<MonitorScopeSelector, ConnectionEvent>): Promise<void> {
  return new Promise(resolve => {
    const events = ["drain", "close", "cancelled"] as const;
    const done = () => {
      for (const e of events) call.off(e, done);
      resolve();
    };
    for (const e of events) call.on(e, done);
  });
}

/** Writes n events to every open stream. One event object per event, written to all streams: a plain grpc-js server then encodes it once per stream. */
async function emit(n: number): Promise<void> {
  for (let seq = 0; seq < n; seq++) {
    const event = benchEvent(seq);
    const blocked: Promise<unknown>[] = [];
    for (const call of monitors) {
      if (!call.write(event) && !call.cancelled) blocked.push(writable(call));
    }
    if (blocked.length > 0) await Promise.all(blocked);
    else if (seq % 128 === 127) await new Promise(resolve => setImmediate(resolve)); // let the socket flush
  }
}

async function waitForStreams(count: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (monitors.size !== count) {
    if (Date.now() > deadline) throw new Error(`expected ${count} monitor streams, have ${monitors.size}`);
    await new Promise(resolve => setTimeout(resolve, 5));
  }
}

const server = new Server();
server.addService(NetworkServiceService, { request, close: (_call: unknown, callback: sendUnaryData<object>) => callback(null, {}) });
server.addService(MonitorConnectionService, { monitorConnections });
server.addService(ClusterInfoService, { getNodeIpConfiguration });
const port = await new Promise<number>((resolve, reject) =>
  server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
);
process.stdout.write(`ready 127.0.0.1:${port}\n`);

// Commands run one at a time, in order; the bench waits for each answer before sending the next.
let queue = Promise.resolve();
createInterface({ input: process.stdin }).on("line", line => {
  const [command, a, b] = line.trim().split(/\s+/);
  queue = queue.then(async () => {
    if (command !== "emit") return void process.stdout.write(`error unknown command ${line}\n`);
    try {
      await waitForStreams(Number(b));
      const start = performance.now();
      await emit(Number(a));
      process.stdout.write(`emitted ${a} ${(performance.now() - start).toFixed(1)}\n`);
    } catch (error: unknown) {
      process.stdout.write(`error ${(error as Error).message}\n`);
    }
  });
});
// The bench closing our stdin (or dying) ends this process: a child must never outlive the bench.
process.stdin.on("end", () => process.exit(0));
process.on("SIGTERM", () => process.exit(0));
