/**
 * Seed IP swapping on the remote mechanism's parameters, in every preference (the seed rewrote only
 * the first). Out: ext_src_ip := the remote NSMgr's IP (the destination's external address); where
 * the node map knows src_ip's node, src_ip := its external IP and orig_src_ip := the internal one.
 * Back: src_ip := orig_src_ip, and dst_ip := the remote domain's external IP for it (asked of the
 * remote ClusterInfo). orig_src_ip and ext_src_ip stay in the response, as in the seed.
 */
import { from, switchMap } from "rxjs";
import { named, type Element } from "../../pipeline/element.js";
import type { NodeMap } from "../../nodes/node-map.js";
import type { DomainResolver } from "../../domains/resolve.js";
import type { Connection, Mechanism } from "../../../generated/nsm/connection.js";
import type { NetworkServiceRequest } from "../../../generated/nsm/networkservice.js";
import { remoteNsm } from "./seed-route.js";
import type { RemoteClusterInfo } from "../../domains/remote-cluster-info.js";
import { DST_IP, EXT_SRC_IP, ORIG_SRC_IP, SRC_IP, restoreClientIPs } from "../seed-connection-view.js";

export function seedSwapIP(nodes: NodeMap, resolver: DomainResolver, clusterInfo: RemoteClusterInfo): Element<NetworkServiceRequest, Connection> {
  return named("swap-ip", next => (req, ctx) =>
    from(resolver.resolveHost(ctx.require(remoteNsm).host)).pipe(
      switchMap(remoteIP => {
        const out: NetworkServiceRequest = { ...req, mechanismPreferences: req.mechanismPreferences.map(m => swapOut(m, remoteIP, nodes)) };
        return next(out, ctx).pipe(switchMap(conn => swapBack(conn, remoteIP, clusterInfo, ctx)));
      }),
    ),
  );
}

export function swapOut(mechanism: Mechanism, remoteIP: string, nodes: NodeMap): Mechanism {
  const parameters: Record<string, string> = { ...mechanism.parameters, [EXT_SRC_IP]: remoteIP };
  const localSrc = mechanism.parameters[SRC_IP];
  const external = localSrc ? nodes.byIP(localSrc)?.externalIP : undefined;
  if (localSrc && external) {
    parameters[SRC_IP] = external;
    parameters[ORIG_SRC_IP] = localSrc;
  }
  return { ...mechanism, parameters };
}

async function swapBack(conn: Connection, remoteIP: string, clusterInfo: RemoteClusterInfo, ctx: Parameters<RemoteClusterInfo["externalIP"]>[2]): Promise<Connection> {
  const remoteDst = conn.mechanism?.parameters[DST_IP];
  const external = remoteDst ? await clusterInfo.externalIP(remoteIP, remoteDst, ctx) : undefined;
  return restoreClientIPs(conn, external);
}

