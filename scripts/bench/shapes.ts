/**
 * The messages the bench sends and the fake remote emits, shared by both processes so that the
 * direct and the proxied runs carry the same bytes (apart from the rewrites the proxy exists for).
 */
import { type Connection, type ConnectionEvent, ConnectionEventType, type MonitorScopeSelector, type PathSegment } from "../../generated/nsm/connection.js";
import type { NetworkServiceRequest } from "../../generated/nsm/networkservice.js";
import { SEED_LOCAL_NODE, SEED_REMOTE_NODE, seedRequest } from "../../spec/support/seed-requests.js";

/** The remote NSMgr's bare name: path segment 1 is "nsmgr-2@127.0.0.1:PORT" towards pnsmgr, "nsmgr-2" towards the remote. */
export const BENCH_REMOTE_NAME = "nsmgr-2";
export const LOCAL_NODE = SEED_LOCAL_NODE;
export const REMOTE_NODE = SEED_REMOTE_NODE;
/**
 * Monitor events cycle over this many connection ids, as a real NSMgr reports changes to a bounded
 * set of connections (pnsmgr keeps the stream's state per connection id, so distinct ids per event
 * would measure state growth instead of relaying).
 */
export const EVENT_CONNECTIONS = 100;

const segment = (name: string): PathSegment => ({ name, id: "", token: "", expires: undefined, metrics: {} });

/** What a client NSMgr sends to pnsmgr: segment 1 "nsmgr-2@host:port", service "icmp-responder@domain-2". */
export function proxiedRequest(remoteAddress: string): NetworkServiceRequest {
  return seedRequest(`${BENCH_REMOTE_NAME}@${remoteAddress}`);
}

/** The same Request as the remote NSMgr accepts it directly (bare names): the baseline. */
export function directRequest(): NetworkServiceRequest {
  return seedRequest(BENCH_REMOTE_NAME, { networkService: "icmp-responder" });
}

export function monitorSelector(segment1: string): MonitorScopeSelector {
  return { pathSegments: [segment("nsmgr-1"), segment(segment1)], networkServices: [] };
}

/** UPDATE event number `seq`: one connection, the sequence number in its labels (checked by every subscriber). */
export function benchEvent(seq: number): ConnectionEvent {
  const id = `${BENCH_REMOTE_NAME}-conn-${seq % EVENT_CONNECTIONS}`;
  const connection: Connection = {
    id,
    networkService: "icmp-responder",
    mechanism: {
      cls: "REMOTE",
      type: "VXLAN",
      parameters: { src_ip: LOCAL_NODE.externalIP, orig_src_ip: LOCAL_NODE.internalIP, ext_src_ip: "127.0.0.1", dst_ip: REMOTE_NODE.internalIP, vni: "42" },
    },
    context: undefined,
    labels: { app: "nsc", seq: String(seq) },
    path: { index: 1, pathSegments: [segment("nsmgr-1"), segment(BENCH_REMOTE_NAME)] },
    networkServiceEndpointName: "icmp-nse",
    payload: "IP",
    state: 0,
  };
  return { type: ConnectionEventType.UPDATE, connections: { [id]: connection } };
}

/**
 * What the seed's remote NSMgr answers to a Request as pnsmgr forwards it (its bare name in path
 * segment 1, a local service name, the first mechanism preference with dst_ip filled in), or why it
 * refuses it. `newId` names a connection that came without an id.
 */
export function seedRemoteAnswer(request: NetworkServiceRequest, newId: () => string): Connection | string {
  const conn = request.connection;
  const preference = request.mechanismPreferences[0];
  if (!conn || conn.path?.pathSegments[1]?.name !== BENCH_REMOTE_NAME) return "path segment 1 is not my bare name";
  if (conn.networkService.includes("@")) return "network service is not local";
  if (!preference) return "no mechanism preference";
  return {
    ...conn,
    id: conn.id || newId(),
    mechanism: { ...preference, parameters: { ...preference.parameters, dst_ip: REMOTE_NODE.internalIP, vni: "42" } },
  };
}
