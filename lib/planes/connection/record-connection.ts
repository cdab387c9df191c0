/**
 * Keeps a connection record from a successful Request until its Close, so that monitor events about
 * the connection can be shown to the client the way its Request answer was (service@domain, the
 * remote NSMgr's full name). A record that cannot be written fails the Request: the proxy does not
 * carry connections it cannot account for.
 */
import { concatMap, from, map } from "rxjs";
import { named, type Element } from "../../pipeline/element.js";
import { nextHop } from "../../pipeline/forward.js";
import type { ConnectionStore } from "../../state/connection-store.js";
import type { Connection } from "../../../generated/nsm/connection.js";
import type { NetworkServiceRequest } from "../../../generated/nsm/networkservice.js";
import type { Empty } from "../../../generated/nsm/google/protobuf/empty.js";
import { remoteNsm } from "./seed-route.js";

export function recordConnection(store: ConnectionStore, now: () => number = Date.now): Element<NetworkServiceRequest, Connection> {
  return named("record-connection", next => (req, ctx) =>
    next(req, ctx).pipe(
      concatMap(conn =>
        from(
          store.put({
            id: conn.id,
            nextHop: ctx.require(nextHop),
            networkService: req.connection?.networkService ?? conn.networkService,
            remoteNsm: ctx.require(remoteNsm).written,
            updatedAt: now(),
          }),
        ).pipe(map(() => conn)),
      ),
    ),
  );
}

export function forgetConnection(store: ConnectionStore): Element<Connection, Empty> {
  return named("forget-connection", next => (conn, ctx) => next(conn, ctx).pipe(concatMap(empty => from(store.delete(conn.id)).pipe(map(() => empty)))));
}
