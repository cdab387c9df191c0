/**
 * Shows relayed monitor events to the client the way its Request answer looked: path segment 1 back
 * to "nsmgr@host:port", src_ip back from orig_src_ip, dst_ip to the remote's external IP (when the
 * proxy has already learnt it), and the network service back to "service@domain" for connections
 * this proxy recorded. The seed relayed events untouched.
 */
import type { Connection, ConnectionEvent } from "../../../generated/nsm/connection.js";
import type { ConnectionStore } from "../../state/connection-store.js";
import type { RemoteClusterInfo } from "../../domains/remote-cluster-info.js";
import { DST_IP, renameSegment, restoreClientIPs } from "../seed-connection-view.js";

export interface EventViewContext {
  readonly remoteName: string;
  readonly written: string;
  readonly remoteIP: string;
}

export async function seedEventView(event: ConnectionEvent, view: EventViewContext, store: ConnectionStore, clusterInfo: RemoteClusterInfo): Promise<ConnectionEvent> {
  const connections: Record<string, Connection> = {};
  for (const [key, conn] of Object.entries(event.connections)) {
    // The record only restores "service@domain"; a store outage must not cost the client its event.
    const record = await store.get(conn.id).catch(() => undefined);
    let shown = conn.path?.pathSegments[1]?.name === view.remoteName ? renameSegment(conn, 1, view.written) : conn;
    const dst = shown.mechanism?.parameters[DST_IP];
    shown = restoreClientIPs(shown, dst ? clusterInfo.cached(view.remoteIP, dst) : undefined);
    if (record) shown = { ...shown, networkService: record.networkService };
    connections[key] = shown;
  }
  return { type: event.type, connections };
}
