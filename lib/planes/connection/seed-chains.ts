/**
 * The seed's connection plane: Request and Close routed by path segment 1 ("nsmgr@host:port").
 *
 *   Request: close-if-failed → deadline → check → route → record → remote-nsm-name → interdomain-service → swap-ip
 *            → note-accepted → forward (a Request the remote accepted but the caller was told failed is Closed there)
 *   Close:   deadline → check → route → forget → remote-nsm-name → interdomain-service → forward
 */
import { chain, type Handler } from "../../pipeline/element.js";
import { deadline } from "../../pipeline/deadline.js";
import { forwardUnary, nextHop } from "../../pipeline/forward.js";
import { createCallContext } from "../../pipeline/context.js";
import { closeIfFailed, noteAccepted } from "../../pipeline/close-if-failed.js";
import { type OrphanCloser, createOrphanCloser } from "../orphan-closer.js";
import type { PlaneDeps } from "../deps.js";
import type { Connection } from "../../../generated/nsm/connection.js";
import { type NetworkServiceRequest, NetworkServiceService } from "../../../generated/nsm/networkservice.js";
import type { Empty } from "../../../generated/nsm/google/protobuf/empty.js";
import { checkSeedClose, checkSeedRequest } from "./seed-request-check.js";
import { remoteNsmName, seedRoute } from "./seed-route.js";
import { renameSegment } from "../seed-connection-view.js";
import { forgetConnection, recordConnection } from "./record-connection.js";
import { interdomainService } from "./interdomain-service.js";
import { seedSwapIP } from "./seed-swap-ip.js";

export interface ConnectionPlane {
  request: Handler<NetworkServiceRequest, Connection>;
  close: Handler<Connection, Empty>;
  /** Connections Closed at the remote because their Request failed after the remote accepted it. */
  readonly orphans: OrphanCloser<Connection>;
}

const requestConnection = {
  get: (req: NetworkServiceRequest) => req.connection,
  set: (req: NetworkServiceRequest, connection: Connection) => ({ ...req, connection }),
};
const closeConnection = { get: (c: Connection) => c, set: (_: Connection, c: Connection) => c };

export function createSeedConnectionPlane(deps: PlaneDeps): ConnectionPlane {
  const { config, upstream, nodes, resolver, connections, remoteClusterInfo, log } = deps;
  // The answer as the remote gave it, Closed at the remote NSMgr the Request went to.
  const orphans = createOrphanCloser<Connection>(log, "seed", (answer, ctx) =>
    upstream.unary(ctx.require(nextHop), NetworkServiceService.close, answer, createCallContext({ method: NetworkServiceService.close.path, deadline: Date.now() + config.callTimeoutMs })),
  );

  const request = chain<NetworkServiceRequest, Connection>(
    closeIfFailed(orphans.close),
    deadline(config.callTimeoutMs),
    checkSeedRequest(config.advertisedAddress),
    seedRoute(req => req.connection),
    recordConnection(connections),
    remoteNsmName(requestConnection, (conn, written) => renameSegment(conn, 1, written)),
    interdomainService(requestConnection, (conn, original) => ({ ...conn, networkService: original })),
    seedSwapIP(nodes, resolver, remoteClusterInfo),
    noteAccepted(),
  )(forwardUnary(upstream, NetworkServiceService.request));

  const close = chain<Connection, Empty>(
    deadline(config.callTimeoutMs),
    checkSeedClose(config.advertisedAddress),
    seedRoute(conn => conn),
    forgetConnection(connections),
    remoteNsmName(closeConnection),
    interdomainService(closeConnection),
  )(forwardUnary(upstream, NetworkServiceService.close));

  return { request, close, orphans };
}
