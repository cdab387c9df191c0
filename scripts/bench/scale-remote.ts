/**
 * Bench child for `npm run bench:scale`: the remote domain's NSMgr behind the far proxy, seed (v0) or
 * v1, as a process of its own so the bench can SIGKILL it and start it again on the same port (a
 * restarted remote peer, which forgets every connection it had).
 *
 *   argv:    seed|v1 PORT        (PORT 0: any free port)
 *   stdout:  ready 127.0.0.1:PORT
 *
 * Why not spec/support/fake-nsmgr.ts / fake-v1-nsmgr.ts: those keep every call in arrays and hand each
 * event to every monitor stream to filter, O(streams) per event, so at 10,000 streams the stand-in
 * and not the proxy would be what the bench measures. Here monitor streams are indexed by what their
 * selector names and nothing is kept per call beyond the connection itself. The answers follow those
 * fakes (and the NSMgrs they stand for) as far as the proxy can tell:
 *
 *  seed  segment 1 must be the bare name "nsmgr-2", the service bare; the connection keeps the id it
 *        came with (a new one if it had none); first mechanism preference with dst_ip; monitor
 *        selectors [local NSMgr, nsmgr-2] get UPDATE / DELETE for connections whose segment 0 is that
 *        local NSMgr.
 *  v1    path.index at the caller's segment whose id is conn.id; the caller's token expiry goes into
 *        its segment (required, as the SDK's nsmgr requires it; the token itself is not verified);
 *        our segment at index+1 (kept on a refresh) and "fwd-2", "nse" behind it; the answer in the
 *        caller's frame; monitor selectors naming a segment id get UPDATE / DELETE for connections
 *        whose path holds that id.
 */
import {
  type Metadata,
  Server,
  ServerCredentials,
  type ServerUnaryCall,
  type ServerWritableStream,
  type ServiceError,
  type sendUnaryData,
  status,
} from "@grpc/grpc-js";
import { type Connection, type ConnectionEvent, ConnectionEventType, MonitorConnectionService, type MonitorScopeSelector, type PathSegment, State } from "../../generated/nsm/connection.js";
import { NetworkServiceService, type NetworkServiceRequest } from "../../generated/nsm/networkservice.js";
import { parseRfc3339, toTimestamp } from "../../lib/tokens/time.js";
import { BENCH_REMOTE_NAME, REMOTE_NODE, seedRemoteAnswer } from "./shapes.js";

type Stream = ServerWritableStream<MonitorScopeSelector, ConnectionEvent>;

const mode = process.argv[2];
if (mode !== "seed" && mode !== "v1") throw new Error(`mode must be seed or v1, not ${mode}`);
const BEHIND = ["fwd-2", "nse"];

/** Connections by our own id, and the keys (seed: segment 0 name; v1: every segment id) they are found under. */
const connections = new Map<string, Connection>();
const byKey = new Map<string, Set<string>>();
const monitors = new Map<string, Set<Stream>>();
let nextId = 0;

const keysOf = (conn: Connection): string[] =>
  mode === "seed" ? [conn.path?.pathSegments[0]?.name ?? ""] : (conn.path?.pathSegments ?? []).map(s => s.id).filter(id => id !== "");
const selectorKey = (selector: MonitorScopeSelector): string => (mode === "seed" ? (selector.pathSegments[0]?.name ?? "") : (selector.pathSegments[0]?.id ?? ""));

function remember(conn: Connection): void {
  connections.set(conn.id, conn);
  for (const key of keysOf(conn)) {
    const ids = byKey.get(key) ?? new Set<string>();
    ids.add(conn.id);
    byKey.set(key, ids);
  }
}

function forget(conn: Connection): void {
  connections.delete(conn.id);
  for (const key of keysOf(conn)) {
    const ids = byKey.get(key);
    ids?.delete(conn.id);
    if (ids?.size === 0) byKey.delete(key);
  }
}

function publish(type: ConnectionEventType, conn: Connection): void {
  const event: ConnectionEvent = { type, connections: { [conn.id]: conn } };
  for (const key of keysOf(conn)) for (const stream of monitors.get(key) ?? []) stream.write(event);
}

const fail = <T>(callback: sendUnaryData<T>, code: status, details: string) => callback({ code, details, name: "", message: details } as ServiceError);

function seedRequest(call: ServerUnaryCall<NetworkServiceRequest, Connection>, callback: sendUnaryData<Connection>) {
  const answer = seedRemoteAnswer(call.request, () => `${BENCH_REMOTE_NAME}-conn-${++nextId}`);
  if (typeof answer === "string") return fail(callback, status.INVALID_ARGUMENT, answer);
  const accepted: Connection = { ...answer, state: State.UP };
  remember(accepted);
  publish(ConnectionEventType.UPDATE, accepted);
  callback(null, accepted);
}

/** The id of `who`'s segment at `at`: kept when it is already there (a refresh), else a new segment. */
function take(segments: PathSegment[], at: number, who: string): string {
  const existing = segments[at];
  if (existing?.name === who) return existing.id;
  const fresh = { name: who, id: `${who}-id-${++nextId}`, token: "", expires: undefined, metrics: {} };
  segments[at] = fresh;
  return fresh.id;
}

function v1Request(call: ServerUnaryCall<NetworkServiceRequest, Connection>, callback: sendUnaryData<Connection>) {
  const conn = call.request.connection;
  if (!conn?.path) return fail(callback, status.INVALID_ARGUMENT, "no connection path");
  const index = conn.path.index;
  const segments = conn.path.pathSegments.map(s => ({ ...s }));
  const caller = segments[index];
  if (!caller || caller.id !== conn.id) return fail(callback, status.INVALID_ARGUMENT, "Path.Index does not point at the caller's segment");
  const expires = parseRfc3339(text(call.metadata, "nsm-client-token-expires"));
  if (expires === undefined) return fail(callback, status.UNKNOWN, "expiration for the previous path segment cannot be nil");
  segments[index] = { ...caller, token: text(call.metadata, "nsm-client-token"), expires: toTimestamp(expires) };
  if (conn.networkServiceEndpointName !== "nse" || conn.networkService.includes("@")) return fail(callback, status.NOT_FOUND, "no such endpoint here");
  const preference = call.request.mechanismPreferences[0];
  if (!preference) return fail(callback, status.INVALID_ARGUMENT, "no mechanism preference");
  const ownId = take(segments, index + 1, BENCH_REMOTE_NAME);
  BEHIND.forEach((hop, i) => take(segments, index + 2 + i, hop));
  const known = connections.get(ownId);
  if (known) forget(known);
  const own: Connection = {
    ...conn,
    id: ownId,
    path: { index: index + 1, pathSegments: segments },
    mechanism: { ...preference, parameters: { ...preference.parameters, dst_ip: REMOTE_NODE.internalIP } },
    state: State.UP,
  };
  remember(own);
  publish(ConnectionEventType.UPDATE, own);
  callback(null, { ...own, id: caller.id, path: { index, pathSegments: segments } });
}

function close(call: ServerUnaryCall<Connection, object>, callback: sendUnaryData<object>) {
  const path = call.request.path;
  const id = mode === "seed" ? call.request.id : (path?.pathSegments[(path?.index ?? 0) + 1]?.id ?? "");
  const known = connections.get(id);
  if (known) {
    forget(known);
    publish(ConnectionEventType.DELETE, known);
  }
  callback(null, {});
}

function monitorConnections(call: Stream) {
  const key = selectorKey(call.request);
  const initial = Object.fromEntries([...(byKey.get(key) ?? [])].flatMap(id => (connections.has(id) ? [[id, connections.get(id)!]] : [])));
  call.write({ type: ConnectionEventType.INITIAL_STATE_TRANSFER, connections: initial });
  const streams = monitors.get(key) ?? new Set<Stream>();
  streams.add(call);
  monitors.set(key, streams);
  const gone = () => {
    streams.delete(call);
    if (streams.size === 0 && monitors.get(key) === streams) monitors.delete(key);
  };
  call.on("cancelled", gone);
  call.on("close", gone);
}

function text(metadata: Metadata, key: string): string {
  const value = metadata.get(key)[0];
  return typeof value === "string" ? value : "";
}

const server = new Server();
server.addService(NetworkServiceService, { request: mode === "seed" ? seedRequest : v1Request, close });
server.addService(MonitorConnectionService, { monitorConnections });
const port = await new Promise<number>((resolve, reject) =>
  server.bindAsync(`127.0.0.1:${Number(process.argv[3] ?? 0)}`, ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
);
process.stdout.write(`ready 127.0.0.1:${port}\n`);
// The bench closing our stdin (or dying) ends this process: a child must never outlive the bench.
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
process.on("SIGTERM", () => process.exit(0));
