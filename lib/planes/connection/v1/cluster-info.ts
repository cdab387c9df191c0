/**
 * cluster-info (the SDK's clusterinfo server): merges this cluster's labels (clusterinfo
 * config.yaml, e.g. clusterName) into the connection's labels on the way out; a cluster label
 * overrides a caller's label of the same key, as in the SDK.
 */
import { named, type Element } from "../../../pipeline/element.js";
import type { Connection } from "../../../../generated/nsm/connection.js";
import type { NetworkServiceRequest } from "../../../../generated/nsm/networkservice.js";
import { requestLens } from "./lens.js";

export function clusterInfoLabels(labels: Readonly<Record<string, string>>): Element<NetworkServiceRequest, Connection> {
  return named("cluster-info", next => (req, ctx) => {
    if (Object.keys(labels).length === 0) return next(req, ctx);
    const conn = requestLens.get(req);
    return next(requestLens.set(req, { ...conn, labels: { ...conn.labels, ...labels } }), ctx);
  });
}
