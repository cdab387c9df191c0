/**
 * NSM v1 connection plane (nsmgr-proxy as a passthrough hop): Request, Close and MonitorConnections.
 * The order follows the SDK's nsmgr-proxy chain (endpoint server + connect client):
 *
 *   Request: close-if-failed → deadline → check → update-path → begin → down-on-failed-refresh → update-token → expiry → monitor-events
 *            → route → swap-ip-server → cluster-info → swap-ip-client → note-accepted → forward
 *            (a new connection the next hop accepted but the caller was told failed is Closed there)
 *   Close:   deadline → check → update-path → begin → update-token → expiry → monitor-events → route → forward
 *   MonitorConnections: the monitor server (initial state, then our own and relayed events; each
 *   UPDATE / DELETE is recorded in the event log with its next hop)
 *
 * The part of Close after begin is also run from inside: when a connection expires and when a
 * reselect replaces it. Per-connection state lives in the connection table (connection-table.ts).
 *
 * With a shared state store (Redis, deps.v1Connections.shared), replicas carry on each other's
 * connections (shared-connections.ts): Request gets `share` between monitor-events and route (writes
 * the connection record), the inner Close starts with `share` (deletes it), begin loads records of
 * ids it does not know, the monitor's initial state includes recorded connections, and expiry looks
 * at the record before closing. Without one, the chains are exactly the ones above. With one and the
 * proxy's feed keeper (options.feeds), downstream monitors are leased feeds any replica takes over
 * and subscribers are served from the event log, with positions and resume (v1-monitoring.ts).
 */
import type { Element, Handler } from "../../../pipeline/element.js";
import { chain } from "../../../pipeline/element.js";
import { type CallContext, createCallContext } from "../../../pipeline/context.js";
import { deadline } from "../../../pipeline/deadline.js";
import { forwardUnary } from "../../../pipeline/forward.js";
import type { PlaneDeps } from "../../deps.js";
import type { Connection, ConnectionEvent, MonitorScopeSelector } from "../../../../generated/nsm/connection.js";
import { type NetworkServiceRequest, NetworkServiceService } from "../../../../generated/nsm/networkservice.js";
import type { Empty } from "../../../../generated/nsm/google/protobuf/empty.js";
import type { TokenGenerator } from "../../../tokens/token-generator.js";
import { createHs256TokenGenerator } from "../../../tokens/hs256.js";
import { monitorTokens } from "./monitor-token.js";
import { type ConnectionEntry, type ConnectionTable, callState, createConnectionTable } from "./connection-table.js";
import { type SharedConnections, createSharedConnections, forgetRecordOnClose } from "./shared-connections.js";
import { checkV1Call } from "./check-request.js";
import { checkBounds } from "../../../pipeline/bounds.js";
import { updatePathClose, updatePathRequest } from "./update-path.js";
import { beginClose, beginRequest, closeEntryWith, closeFromInside } from "./begin.js";
import { updateToken } from "./update-token.js";
import { authorizeClose, authorizeMonitor, authorizeRequest } from "./authorize.js";
import { expiryClose, expiryRequest } from "./expiry.js";
import { downOnFailedRefresh, monitorClose, monitorRequest } from "./monitor-events.js";
import { EndReason, closeReason } from "../../end-reasons.js";
import { type NseDiscovery, registryNseDiscovery } from "./discover-nse.js";
import { type RouteDeps, routeClose, routeRequest } from "./route.js";
import { swapIpClient, swapIpServer } from "./swap-ip.js";
import { clusterInfoLabels } from "./cluster-info.js";
import type { MonitorServer } from "./monitor-server.js";
import { createV1Monitoring } from "./v1-monitoring.js";
import type { MonitorFeeds } from "../../monitor-feeds.js";
import { closeLens, requestLens } from "./lens.js";
import { closeIfFailed, noteAccepted } from "../../../pipeline/close-if-failed.js";
import { type OrphanCloser, createOrphanCloser } from "../../orphan-closer.js";

export interface V1ConnectionPlane {
  request: Handler<NetworkServiceRequest, Connection>;
  close: Handler<Connection, Empty>;
  monitorConnections: Handler<MonitorScopeSelector, ConnectionEvent>;
  /** New connections Closed at the next hop because their Request failed after it was accepted there. */
  readonly orphans: OrphanCloser<Connection>;
  /** Ends downstream monitors and timers. */
  shutdown(): void;
}

export interface V1ConnectionPlaneOptions {
  /** Issues this proxy's path tokens; default: sandbox-style HS256 with NSM_MAX_TOKEN_LIFETIME. */
  tokens?: TokenGenerator;
  /** Finds NSEs by name; default: the local registry at NSM_REGISTRY_URL. */
  discovery?: NseDiscovery;
  /**
   * The proxy's monitor feed keeper (proxy.ts): with replicas sharing the store, downstream monitors
   * run as leased feeds and subscribers are served from the event log (v1-monitoring.ts).
   */
  feeds?: MonitorFeeds;
  /** For tests: the plane's state. */
  inspect?: (state: { table: ConnectionTable; monitor: MonitorServer }) => void;
}

export function createV1ConnectionPlane(deps: PlaneDeps, options: V1ConnectionPlaneOptions = {}): V1ConnectionPlane {
  const { config, upstream, routes, ipMap, clusterInfo, log, publicUrl } = deps;
  const { tokens, sendToNextHop, tokenMetadata } = planeTokens(deps, options);
  const identity = deps.identity;
  const tokenOptions = { sendToNextHop };
  const routeDeps = { routes, discovery: options.discovery ?? registryNseDiscovery(upstream, config.registryUrl), selfUrl: publicUrl };
  const table = createConnectionTable();
  const store = deps.v1Connections?.shared ? deps.v1Connections : undefined;
  // Built below; the monitor's hook and the shared part refer to each other only when called.
  let shared: SharedConnections | undefined;
  const { monitor, watch, recorder } = createV1Monitoring(deps, {
    metadata: tokenMetadata,
    shared: store && { store, recorded: selector => shared!.initialConnections(selector) },
    feeds: options.feeds,
  });

  const closeInner = chain<Connection, Empty>(
    ...(store ? [forgetRecordOnClose(store, log)] : []),
    updateToken(tokens, closeLens, tokenOptions),
    expiryClose(),
    monitorClose(monitor, config.name),
    routeClose(routeDeps),
  )(forwardUnary(upstream, NetworkServiceService.close));
  const closeEntry = closeEntryWith(closeInner);
  const internalContext = () => createCallContext({ method: NetworkServiceService.close.path, deadline: Date.now() + config.callTimeoutMs });
  const expiryContext = () => internalContext().with(closeReason, EndReason.expired);
  const orphans = orphanCloser(deps, updateToken(tokens, closeLens, tokenOptions), routeDeps, internalContext);
  if (store) {
    shared = createSharedConnections({
      store,
      table,
      log,
      monitor: () => monitor,
      watch,
      closeEntry,
      internalContext: expiryContext,
    });
  }
  const onExpire = (entry: ConnectionEntry) =>
    shared
      ? shared.onExpire(entry)
      : closeFromInside(table, entry, closeEntry, expiryContext).subscribe({
          error: (error: unknown) => log.warn("v1: closing an expired connection failed downstream", { id: entry.id, error: String(error) }),
        });

  const request = chain<NetworkServiceRequest, Connection>(
    closeIfFailed(orphans.close),
    deadline(config.callTimeoutMs),
    checkV1Call(config.name, requestLens, "request"),
    updatePathRequest(config.name),
    beginRequest(table, closeEntry, log, shared?.adopt),
    downOnFailedRefresh(monitor, config.name),
    updateToken(tokens, requestLens, tokenOptions),
    ...(identity ? [authorizeRequest<NetworkServiceRequest, Connection>(identity, requestLens)] : []),
    expiryRequest({ onExpire }),
    monitorRequest(monitor, watch),
    ...(shared ? [shared.recordRequest] : []),
    routeRequest(routeDeps),
    swapIpServer(ipMap),
    clusterInfoLabels(clusterInfo),
    swapIpClient(ipMap),
    noteAccepted(),
  )(forwardUnary(upstream, NetworkServiceService.request));

  // The caller's Close is checked (its token into the previous segment first); our own Closes from inside are not.
  const close = chain<Connection, Empty>(
    deadline(config.callTimeoutMs),
    checkV1Call(config.name, closeLens, "close"),
    updatePathClose(config.name),
    beginClose(table, shared?.adopt),
    ...(identity ? [updateToken<Connection, Empty>(tokens, closeLens, tokenOptions), authorizeClose<Empty>(identity)] : []),
  )(closeInner);

  options.inspect?.({ table, monitor });
  return {
    request,
    close,
    orphans,
    monitorConnections: chain<MonitorScopeSelector, ConnectionEvent>(
      checkBounds<MonitorScopeSelector, ConnectionEvent>("monitor selector"),
      ...(identity ? [authorizeMonitor<ConnectionEvent>(identity)] : []),
    )(monitor.monitorConnections),
    shutdown() {
      shared?.stop();
      table.clear();
      monitor.close();
      recorder.close();
    },
  };
}

/** This proxy's path tokens, and the token metadata downstream monitor streams carry. */
interface PlaneTokens {
  readonly tokens: TokenGenerator;
  /** Our token goes to the next hop in metadata; under mTLS the transport's per-call credentials carry it (naming the next hop). */
  readonly sendToNextHop: boolean;
  readonly tokenMetadata: () => ReadonlyMap<string, string> | Promise<ReadonlyMap<string, string>>;
}

function planeTokens(deps: PlaneDeps, options: V1ConnectionPlaneOptions): PlaneTokens {
  const baseTokens = deps.identity?.tokens ?? options.tokens ?? createHs256TokenGenerator({ lifetimeMs: deps.config.maxTokenLifetimeMs });
  const sendToNextHop = !deps.identity;
  const { tokens, metadata } = monitorTokens(baseTokens, sendToNextHop);
  return { tokens, sendToNextHop, tokenMetadata: metadata };
}

/**
 * New connections the next hop accepted but the caller was told failed: Closed along their route (with
 * our token updated), from a fresh context. A failed refresh keeps its connection.
 */
function orphanCloser(deps: PlaneDeps, updateCloseToken: Element<Connection, Empty>, routeDeps: RouteDeps, internalContext: () => CallContext): OrphanCloser<Connection> {
  const closeDownstream = chain<Connection, Empty>(updateCloseToken, routeClose(routeDeps))(forwardUnary(deps.upstream, NetworkServiceService.close));
  return createOrphanCloser<Connection>(deps.log, "v1", (answer, ctx) => {
    const call = ctx.get(callState);
    if (!call?.route || call.entry?.state === "established") return undefined; // a failed refresh keeps its connection
    return closeDownstream(answer, internalContext().with(callState, { entry: undefined, stored: call.route }));
  });
}
