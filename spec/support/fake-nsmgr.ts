/**
 * A stand-in for a remote domain's v0 NSMgr (NetworkService + MonitorConnection) on a real grpc-js
 * server, plus a ClusterInfo stand-in for that domain. It behaves like the seed's remote NSMgr as far
 * as the proxy can tell: it answers only to its bare name in path segment 1 and a bare service name,
 * assigns connection ids, selects the first mechanism preference and fills dst_ip, and reports
 * UPDATE / DELETE to monitor streams whose selector matches.
 */
import type { ServerWritableStream, ServiceError, handleUnaryCall, sendUnaryData, ServerUnaryCall } from "@grpc/grpc-js";
import { status } from "@grpc/grpc-js";
import {
  type Connection,
  type ConnectionEvent,
  ConnectionEventType,
  MonitorConnectionService,
  type MonitorScopeSelector,
} from "../../generated/nsm/connection.js";
import { NetworkServiceService, type NetworkServiceRequest } from "../../generated/nsm/networkservice.js";
import { ClusterInfoService, type NodeIPConfiguration } from "../../generated/seed/clusterinfo.js";
import { type TestServer, startTestServer } from "./grpc.js";

export interface FakeNsmgr {
  readonly name: string;
  readonly server: TestServer;
  readonly address: string;
  readonly requests: NetworkServiceRequest[];
  readonly closes: Connection[];
  readonly connections: Map<string, Connection>;
  /** The caller's address of every Request: the same one each time means a reused channel. */
  readonly peers: string[];
  /** Requests the caller cancelled (deadline passed or caller left). */
  cancelled(): number;
  /**
   * Hanging Requests whose HTTP/2 stream is still open now (read from the stream itself, so a cancel
   * that landed before grpc-js ran the handler, and emitted no "cancelled", counts as closed).
   */
  openRequests(): number;
  /** Monitor streams open on this NSMgr now. */
  monitorCount(): number;
  /** The endpoint of a connection dies: the NSMgr drops it and reports DELETE. */
  endpointDies(id: string): void;
  /** The data plane of a connection breaks: UPDATE with state DOWN. */
  connectionDown(id: string): void;
  /** Adds or replaces a connection and reports UPDATE (events on demand, for monitor tests). */
  update(connection: Connection): void;
}

export interface FakeNsmgrOptions {
  name?: string;
  /** dst_ip this NSMgr puts into the selected mechanism. */
  dstIP?: string;
  port?: number;
  /** Bind to this host instead of 127.0.0.1 ("::1" for IPv6). */
  host?: string;
  /** Never answer Requests (to test deadlines); cancellations are counted. */
  hang?: boolean;
  /** Fail every Request with this status. */
  failWith?: { code: status; details: string };
}

let idCounter = 0;

export async function startFakeNsmgr(options: FakeNsmgrOptions = {}): Promise<FakeNsmgr> {
  const name = options.name ?? "nsmgr-2";
  const requests: NetworkServiceRequest[] = [];
  const closes: Connection[] = [];
  const connections = new Map<string, Connection>();
  const peers: string[] = [];
  let cancelled = 0;
  const hanging = new Set<ServerUnaryCall<NetworkServiceRequest, Connection>>();
  const monitors = new Set<{ selector: MonitorScopeSelector; call: ServerWritableStream<MonitorScopeSelector, ConnectionEvent> }>();

  const matches = (selector: MonitorScopeSelector, conn: Connection) => {
    const names = conn.path?.pathSegments.map(s => s.name) ?? [];
    const wanted = selector.pathSegments.map(s => s.name);
    return (wanted[0] !== undefined && names[0] === wanted[0]) || (wanted[1] !== undefined && names[1] === wanted[1]);
  };
  const publish = (type: ConnectionEventType, conn: Connection) => {
    for (const m of monitors) if (matches(m.selector, conn)) m.call.write({ type, connections: { [conn.id]: conn } });
  };
  const fail = (callback: sendUnaryData<never>, code: status, details: string) => callback({ code, details, name: "", message: details } as ServiceError);

  const request: handleUnaryCall<NetworkServiceRequest, Connection> = (call: ServerUnaryCall<NetworkServiceRequest, Connection>, callback) => {
    const req = call.request;
    requests.push(req);
    peers.push(call.getPeer());
    if (options.hang) {
      call.on("cancelled", () => cancelled++);
      hanging.add(call);
      return;
    }
    if (options.failWith) return fail(callback, options.failWith.code, options.failWith.details);
    const conn = req.connection;
    const segment1 = conn?.path?.pathSegments[1]?.name;
    if (!conn || segment1 !== name) return fail(callback, status.INVALID_ARGUMENT, `path segment 1 is "${segment1}", I am "${name}"`);
    if (conn.networkService.includes("@")) return fail(callback, status.INVALID_ARGUMENT, `network service "${conn.networkService}" is not local`);
    const preference = req.mechanismPreferences[0];
    if (!preference) return fail(callback, status.INVALID_ARGUMENT, "no mechanism preference");
    const id = conn.id && connections.has(conn.id) ? conn.id : `${name}-conn-${++idCounter}`;
    const accepted: Connection = {
      ...conn,
      id,
      mechanism: { ...preference, parameters: { ...preference.parameters, dst_ip: options.dstIP ?? "10.2.0.7", vni: "42" } },
    };
    connections.set(id, accepted);
    publish(ConnectionEventType.UPDATE, accepted);
    callback(null, accepted);
  };

  const close: handleUnaryCall<Connection, object> = (call, callback) => {
    closes.push(call.request);
    const known = connections.get(call.request.id);
    connections.delete(call.request.id);
    if (known) publish(ConnectionEventType.DELETE, known);
    callback(null, {});
  };

  const monitorConnections = (call: ServerWritableStream<MonitorScopeSelector, ConnectionEvent>) => {
    const entry = { selector: call.request, call };
    const initial = Object.fromEntries([...connections].filter(([, c]) => matches(call.request, c)));
    call.write({ type: ConnectionEventType.INITIAL_STATE_TRANSFER, connections: initial });
    monitors.add(entry);
    call.on("cancelled", () => monitors.delete(entry));
  };

  const server = await startTestServer(
    [
      [NetworkServiceService, { request, close }],
      [MonitorConnectionService, { monitorConnections }],
    ],
    options.port ?? 0,
    options.host,
  );
  return {
    name,
    server,
    address: server.address,
    requests,
    closes,
    connections,
    peers,
    cancelled: () => cancelled,
    openRequests: () => [...hanging].filter(call => !streamClosed(call)).length,
    monitorCount: () => monitors.size,
    endpointDies(id) {
      const conn = connections.get(id);
      if (!conn) throw new Error(`no connection ${id}`);
      connections.delete(id);
      publish(ConnectionEventType.DELETE, conn);
    },
    update(connection) {
      connections.set(connection.id, connection);
      publish(ConnectionEventType.UPDATE, connection);
    },
    connectionDown(id) {
      const conn = connections.get(id);
      if (!conn) throw new Error(`no connection ${id}`);
      const down = { ...conn, state: 1 };
      connections.set(id, down);
      publish(ConnectionEventType.UPDATE, down);
    },
  };
}

/** A domain's ClusterInfo with a fixed node list (what a remote proxy's registry port answers). */
export async function startFakeClusterInfo(nodes: NodeIPConfiguration[]): Promise<TestServer> {
  const getNodeIpConfiguration: handleUnaryCall<NodeIPConfiguration, NodeIPConfiguration> = (call, callback) => {
    const q = call.request;
    const node = nodes.find(n => (q.nodeName && n.nodeName === q.nodeName) || (q.internalIP && n.internalIP === q.internalIP) || (q.externalIP && n.externalIP === q.externalIP));
    if (node) callback(null, node);
    else callback({ code: status.NOT_FOUND, details: "node was not found", name: "", message: "" } as ServiceError);
  };
  return startTestServer([[ClusterInfoService, { getNodeIpConfiguration }]]);
}

/** grpc-js keeps the HTTP/2 stream on its internal call; `checkCancelled()` looks at it. */
function streamClosed(call: ServerUnaryCall<unknown, unknown>): boolean {
  const underlying = (call as unknown as { call?: { checkCancelled?: () => boolean } }).call;
  if (typeof underlying?.checkCancelled !== "function") throw new Error("grpc-js internals changed: no checkCancelled() on the server call");
  return call.cancelled || underlying.checkCancelled();
}
