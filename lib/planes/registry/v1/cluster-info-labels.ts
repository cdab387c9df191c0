/**
 * NSM's registry clusterinfo: the cluster info labels (e.g. clusterName) are merged into every
 * network_service_labels entry of an NSE registered through this proxy, overriding a label of the
 * same key, so clients in other domains can select by cluster. An NSE without label entries gets
 * none added (as in the Go SDK).
 */
import { named, type Element } from "../../../pipeline/element.js";
import type { NetworkServiceEndpoint } from "../../../../generated/nsm/registry.js";

export function clusterInfoLabels(clusterInfo: Readonly<Record<string, string>>): Element<NetworkServiceEndpoint, NetworkServiceEndpoint> {
  return named("cluster-info-labels", next => (req, ctx) => {
    if (Object.keys(clusterInfo).length === 0) return next(req, ctx);
    const networkServiceLabels = Object.fromEntries(
      Object.entries(req.networkServiceLabels).map(([service, entry]) => [service, { ...entry, labels: { ...entry.labels, ...clusterInfo } }]),
    );
    return next({ ...req, networkServiceLabels }, ctx);
  });
}
