/**
 * NSM v1 connection plane (nsmgr-proxy behaviour): Request/Close and MonitorConnections. Placeholder
 * until the plane lands: every method answers UNIMPLEMENTED.
 */
import { throwError } from "rxjs";
import type { Handler } from "../../../pipeline/element.js";
import { Code, ProxyError } from "../../../pipeline/errors.js";
import type { PlaneDeps } from "../../deps.js";
import type { Connection, ConnectionEvent, MonitorScopeSelector } from "../../../../generated/nsm/connection.js";
import type { NetworkServiceRequest } from "../../../../generated/nsm/networkservice.js";
import type { Empty } from "../../../../generated/nsm/google/protobuf/empty.js";

export interface V1ConnectionPlane {
  request: Handler<NetworkServiceRequest, Connection>;
  close: Handler<Connection, Empty>;
  monitorConnections: Handler<MonitorScopeSelector, ConnectionEvent>;
  /** Ends downstream monitors and timers. */
  shutdown(): void;
}

export function createV1ConnectionPlane(_deps: PlaneDeps): V1ConnectionPlane {
  const unimplemented = () => throwError(() => new ProxyError(Code.UNIMPLEMENTED, "the v1 connection plane is not built yet"));
  return { request: unimplemented, close: unimplemented, monitorConnections: unimplemented, shutdown() {} };
}
