/** Wire values the integration tests build again and again (not a test file): path segments and seed monitor selectors. */
import { ConnectionEvent, MonitorConnectionService, type MonitorScopeSelector, type PathSegment } from "../../generated/nsm/connection.js";
import { eventPositionOf } from "../../lib/transport/grpc/event-positions.js";

/** A path segment with no expiry; id and token empty unless given. */
export const segment = (name: string, id = "", token = ""): PathSegment => ({ name, id, token, expires: undefined, metrics: {} });

/** What a seed client (`client`) asks to monitor of its connections through `remoteNsm` ("nsmgr-2@host:port"). */
export const seedSelector = (remoteNsm: string, client = "nsmgr-1"): MonitorScopeSelector => ({ pathSegments: [segment(client), segment(remoteNsm)], networkServices: [] });

/** An event as received with the log position the gateway sent with it. */
export interface PositionedEvent {
  readonly event: ConnectionEvent;
  readonly position: string;
}

/** MonitorConnections read with each event's log position (for resuming with pnsmgr-resume-after). */
export const monitorWithPositions = {
  ...MonitorConnectionService.monitorConnections,
  responseDeserialize: (bytes: Buffer): PositionedEvent => ({ event: ConnectionEvent.decode(bytes), position: eventPositionOf(bytes) }),
};
