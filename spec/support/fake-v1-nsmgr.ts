/**
 * A stand-in for an NSM v1 NSMgr (and the hops behind it) as the next hop of a proxy, on a real
 * grpc-js server. It checks what an SDK nsmgr checks and answers the way one would:
 *  - path: path.index must point at the caller's segment and that segment's id must equal conn.id;
 *    it takes index+1 (reusing the segment there when it has its own name, as on a refresh) and adds
 *    the hops behind it (by default "fwd-2" and "nse"), so a full interdomain path has 8 segments;
 *  - tokens: the caller's `nsm-client-token` / `nsm-client-token-expires` go into the caller's
 *    segment; the caller's segment must then have an expiry ("expiration for the previous path
 *    segment cannot be nil"); the token must be an HS256 JWT with the sandbox secret;
 *  - names: the endpoint must be one it knows (no "@domain" suffix);
 *  - mechanism: the first preference, with dst_ip set to this domain's internal IP;
 *  - answer: in the caller's frame (id of the caller's segment, index at it);
 *  - MonitorConnections: initial state at once, then UPDATE on Request and DELETE on Close for
 *    connections whose path contains the selector's segments contiguously (kept in its own frame);
 *    the test makes further UPDATE / DELETE (connectionDown, changed, endpointDies).
 */
import { type ServerCredentials, type ServerUnaryCall, type ServerWritableStream, type ServiceError, type sendUnaryData, type Metadata, status } from "@grpc/grpc-js";
import { type Connection, type ConnectionEvent, ConnectionEventType, MonitorConnectionService, type MonitorScopeSelector, type PathSegment, State } from "../../generated/nsm/connection.js";
import { NetworkServiceService, type NetworkServiceRequest } from "../../generated/nsm/networkservice.js";
import { verifyJwt } from "../../lib/tokens/jwt.js";
import { SANDBOX_SECRET } from "../../lib/tokens/hs256.js";
import { parseRfc3339, toTimestamp } from "../../lib/tokens/time.js";
import { type TestServer, startTestServer } from "./grpc.js";

export interface ReceivedCall<T> {
  readonly message: T;
  readonly metadata: ReadonlyMap<string, string>;
}

export interface FakeV1Nsmgr {
  readonly name: string;
  readonly server: TestServer;
  readonly address: string;
  readonly url: string;
  readonly requests: ReceivedCall<NetworkServiceRequest>[];
  readonly closes: ReceivedCall<Connection>[];
  /** Connections by this NSMgr's own segment id, in its own frame. */
  readonly connections: Map<string, Connection>;
  readonly monitorSelectors: MonitorScopeSelector[];
  monitorCount(): number;
  /** Every open monitor stream fails with UNAVAILABLE (the NSMgr restarts). */
  breakMonitors(): void;
  /** UPDATE with state DOWN for the connection with this own id. */
  connectionDown(ownId: string): void;
  /** The connection is gone below the NSMgr: DELETE. */
  endpointDies(ownId: string): void;
  /** UPDATE of the connection with this own id, with `change` applied (e.g. a new context). */
  changed(ownId: string, change: Partial<Connection>): void;
}

export interface FakeV1NsmgrOptions {
  name?: string;
  /** Endpoint names it serves. */
  endpoints?: string[];
  /** Hops behind it, appended after its own segment. */
  behind?: string[];
  dstIP?: string;
  failWith?: { code: status; details: string };
  /** Serve with these credentials (mTLS in secured tests); default plaintext. */
  credentials?: ServerCredentials;
  /** Checks the metadata token (default: an HS256 sandbox token); a throw is UNAUTHENTICATED. */
  checkToken?: (token: string, call: ServerUnaryCall<NetworkServiceRequest, Connection>) => Promise<void>;
  /** Answers a Request this long after accepting it (a slow next hop: the connection is open meanwhile). */
  answerDelayMs?: number;
}

let counter = 0;

function matches(conn: Connection, selector: MonitorScopeSelector): boolean {
  const segments = conn.path?.pathSegments ?? [];
  const wanted = selector.pathSegments;
  if (wanted.length === 0) return true;
  for (let i = 0; i + wanted.length <= segments.length; i++) {
    if (wanted.every((w, j) => (w.name === "" || w.name === segments[i + j]?.name) && (w.id === "" || w.id === segments[i + j]?.id))) return true;
  }
  return false;
}

function text(metadata: Metadata): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, v] of Object.entries(metadata.getMap())) if (typeof v === "string") out.set(k, v);
  return out;
}

export async function startFakeV1Nsmgr(options: FakeV1NsmgrOptions = {}): Promise<FakeV1Nsmgr> {
  const name = options.name ?? "nsmgr-2";
  const endpoints = options.endpoints ?? ["nse"];
  const behind = options.behind ?? ["fwd-2", "nse"];
  const requests: ReceivedCall<NetworkServiceRequest>[] = [];
  const closes: ReceivedCall<Connection>[] = [];
  const connections = new Map<string, Connection>();
  const monitorSelectors: MonitorScopeSelector[] = [];
  const monitors = new Set<ServerWritableStream<MonitorScopeSelector, ConnectionEvent>>();

  const publish = (type: ConnectionEventType, conn: Connection) => {
    for (const m of monitors) if (matches(conn, m.request)) m.write({ type, connections: { [conn.id]: conn } });
  };
  const fail = <T>(callback: sendUnaryData<T>, code: status, details: string) => callback({ code, details, name: "", message: details } as ServiceError);
  const take = (segments: PathSegment[], at: number, who: string): string => {
    const existing = segments[at];
    if (existing?.name === who) return existing.id;
    const id = `${who}-id-${++counter}`;
    const fresh = { name: who, id, token: "", expires: undefined, metrics: {} };
    if (existing) segments[at] = fresh;
    else segments.push(fresh);
    return id;
  };

  const request = async (call: ServerUnaryCall<NetworkServiceRequest, Connection>, callback: sendUnaryData<Connection>) => {
    const metadata = text(call.metadata);
    requests.push({ message: call.request, metadata });
    if (options.failWith) return fail(callback, options.failWith.code, options.failWith.details);
    const conn = call.request.connection;
    if (!conn?.path) return fail(callback, status.INVALID_ARGUMENT, "no connection path");
    const index = conn.path.index;
    const segments = conn.path.pathSegments.map(s => ({ ...s }));
    const caller = segments[index];
    if (!caller) return fail(callback, status.INVALID_ARGUMENT, `Path.Index ${index} is out of the path (${segments.length})`);
    if (caller.id !== conn.id) return fail(callback, status.INVALID_ARGUMENT, `Current PathSegment.Id==${caller.id} should be equal Connection.Id==${conn.id}`);
    const token = metadata.get("nsm-client-token");
    const expires = parseRfc3339(metadata.get("nsm-client-token-expires") ?? "");
    if (token !== undefined && expires !== undefined) {
      try {
        await (options.checkToken ? options.checkToken(token, call) : verifyJwt(token, SANDBOX_SECRET));
      } catch (error: unknown) {
        return fail(callback, status.UNAUTHENTICATED, `token: ${(error as Error).message}`);
      }
      segments[index] = { ...caller, token, expires: toTimestamp(expires) };
    }
    if (!segments[index]?.expires) return fail(callback, status.UNKNOWN, "expiration for the previous path segment cannot be nil");
    if (!endpoints.includes(conn.networkServiceEndpointName)) return fail(callback, status.NOT_FOUND, `network service endpoint ${conn.networkServiceEndpointName} not found`);
    if (conn.networkService.includes("@")) return fail(callback, status.NOT_FOUND, `network service ${conn.networkService} is not found`);
    const preference = call.request.mechanismPreferences[0];
    if (!preference) return fail(callback, status.INVALID_ARGUMENT, "no mechanism preference");
    const ownId = take(segments, index + 1, name);
    segments[index + 1] = { ...segments[index + 1]!, token: `${name}-token`, expires: toTimestamp(Date.now() + 3_600_000) };
    behind.forEach((hop, i) => take(segments, index + 2 + i, hop));
    const own: Connection = {
      ...conn,
      id: ownId,
      path: { index: index + 1, pathSegments: segments },
      mechanism: { ...preference, parameters: { ...preference.parameters, [`dst_ip`]: options.dstIP ?? "10.2.0.7" } },
      state: State.UP,
    };
    connections.set(ownId, own);
    publish(ConnectionEventType.UPDATE, own);
    const answer = () => callback(null, { ...own, id: caller.id, path: { index, pathSegments: segments } });
    if (options.answerDelayMs) setTimeout(answer, options.answerDelayMs);
    else answer();
  };

  const close = (call: ServerUnaryCall<Connection, object>, callback: sendUnaryData<object>) => {
    closes.push({ message: call.request, metadata: text(call.metadata) });
    const path = call.request.path;
    const mine = path?.pathSegments[path.index + 1];
    const known = mine?.name === name ? connections.get(mine.id) : undefined;
    if (known) {
      connections.delete(known.id);
      publish(ConnectionEventType.DELETE, known);
    }
    callback(null, {});
  };

  const monitorConnections = (call: ServerWritableStream<MonitorScopeSelector, ConnectionEvent>) => {
    monitorSelectors.push(call.request);
    const initial = Object.fromEntries([...connections].filter(([, c]) => matches(c, call.request)));
    call.write({ type: ConnectionEventType.INITIAL_STATE_TRANSFER, connections: initial });
    monitors.add(call);
    call.on("cancelled", () => monitors.delete(call));
  };

  const server = await startTestServer([
    [NetworkServiceService, { request, close }],
    [MonitorConnectionService, { monitorConnections }],
  ], 0, "127.0.0.1", options.credentials);
  return {
    name,
    server,
    address: server.address,
    url: `tcp://${server.address}`,
    requests,
    closes,
    connections,
    monitorSelectors,
    monitorCount: () => monitors.size,
    breakMonitors() {
      for (const m of [...monitors]) {
        monitors.delete(m);
        m.emit("error", { code: status.UNAVAILABLE, details: `${name} monitor broke` });
      }
    },
    connectionDown(ownId) {
      const conn = connections.get(ownId);
      if (!conn) throw new Error(`${name} has no connection ${ownId}`);
      const down = { ...conn, state: State.DOWN };
      connections.set(ownId, down);
      publish(ConnectionEventType.UPDATE, down);
    },
    changed(ownId, change) {
      const conn = connections.get(ownId);
      if (!conn) throw new Error(`${name} has no connection ${ownId}`);
      const next = { ...conn, ...change };
      connections.set(ownId, next);
      publish(ConnectionEventType.UPDATE, next);
    },
    endpointDies(ownId) {
      const conn = connections.get(ownId);
      if (!conn) throw new Error(`${name} has no connection ${ownId}`);
      connections.delete(ownId);
      publish(ConnectionEventType.DELETE, conn);
    },
  };
}
