/**
 * Where the connection sits in each call of the plane: inside the NetworkServiceRequest of a Request,
 * the message itself for a Close. Elements that act on both take one of these lenses.
 */
import type { Connection } from "../../../../generated/nsm/connection.js";
import type { NetworkServiceRequest } from "../../../../generated/nsm/networkservice.js";

export interface ConnectionLens<Req> {
  get(req: Req): Connection;
  set(req: Req, conn: Connection): Req;
}

export function emptyConnection(): Connection {
  return { id: "", networkService: "", mechanism: undefined, context: undefined, labels: {}, path: undefined, networkServiceEndpointName: "", payload: "", state: 0 };
}

export const requestLens: ConnectionLens<NetworkServiceRequest> = {
  get: req => req.connection ?? emptyConnection(),
  set: (req, connection) => ({ ...req, connection }),
};

export const closeLens: ConnectionLens<Connection> = {
  get: conn => conn,
  set: (_, conn) => conn,
};
