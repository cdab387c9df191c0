/** What every plane is built from: configuration and the shared services of one proxy process. */
import type { Config } from "../config.js";
import type { DomainResolver, VetAddresses } from "../domains/resolve.js";
import type { DnsClient } from "../domains/dns-cache.js";
import type { Logger } from "../log.js";
import type { NodeMap } from "../nodes/node-map.js";
import type { Upstream } from "../pipeline/upstream.js";
import type { ConnectionStore } from "../state/connection-store.js";
import type { RemoteClusterInfo } from "../domains/remote-cluster-info.js";
import type { RouteStore } from "../state/route-store.js";
import type { IpMap } from "../nodes/ip-map.js";
import type { EventLog } from "../state/event-log.js";
import type { V1ConnectionStore } from "../state/v1-connection-store.js";
import type { FeedStore } from "../state/feed-store.js";
import type { ReplicaRegistry } from "../state/replica-registry.js";
import type { PlaneIdentity } from "../identity/plane-identity.js";

export interface PlaneDeps {
  readonly config: Config;
  /** Calls to next hops over reused channels. */
  readonly upstream: Upstream;
  /** v1 next hops, when they differ from `upstream` (secured mode: mTLS channels with per-call tokens). */
  readonly v1Upstream?: Upstream;
  readonly resolver: DomainResolver;
  /** The gateway's DNS client (cached); v1 SRV lookups use it. Absent: the plane makes its own. */
  readonly dns?: DnsClient;
  /** The destination guard's check of every address a name resolved to (SRV targets). */
  readonly vet?: VetAddresses;
  /**
   * The destination guard's verdict on an address before anything is set up for it (a monitor feed):
   * rejects with PERMISSION_DENIED / INVALID_ARGUMENT as a dial to it would. Absent: no early check.
   */
  readonly checkDestination?: (address: string) => Promise<void>;
  /** This domain's node IP map (internal <-> external). */
  readonly nodes: NodeMap;
  readonly log: Logger;
  /** Connection records kept from Request to Close. */
  readonly connections: ConnectionStore;
  /** External IPs of remote domains' nodes (their ClusterInfo), cached. */
  readonly remoteClusterInfo: RemoteClusterInfo;
  /**
   * v1: connection records by our segment id, shared by the replicas (Redis). Absent or not `shared`:
   * the v1 plane keeps its connections in process only.
   */
  readonly v1Connections?: V1ConnectionStore;
  /** v1: learned routes, NSE name -> next hop URL. */
  readonly routes: RouteStore;
  /** v1: the map-ip.yaml IP map (internal <-> external). */
  readonly ipMap: IpMap;
  /** v1: cluster info labels merged into connections and NSE labels. */
  readonly clusterInfo: Readonly<Record<string, string>>;
  /** v1: the URL this proxy puts into NSE entries (tcp://host:port). */
  readonly publicUrl: string;
  /** The monitor event log: every monitor event crossing the proxy is appended (record-events.ts). */
  readonly events: EventLog;
  /** Monitor feeds (upstream monitor streams that any replica can take over) and their leases. */
  readonly feeds: FeedStore;
  readonly replicas: ReplicaRegistry;
  /** This process among the replicas sharing the store (lease holder id). */
  readonly replicaId: string;
  /**
   * v1 secured mode (SPIFFE): ES256 tokens and NSM's authorization policies. Absent in insecure mode
   * (PNSMGR_INSECURE=true): HS256 sandbox tokens, nothing checked.
   */
  readonly identity?: PlaneIdentity;
}
