/**
 * Asks a remote domain's proxy (its ClusterInfo service, at the remote NSMgr's host and the remote
 * registry port) for the external IP of one of its internal IPs. Answers are cached: monitor events
 * about a connection ask again for the IP its Request already asked about. A failed lookup answers
 * undefined (the IP is then left as the remote gave it) and is not cached.
 */
import { firstValueFrom } from "rxjs";
import type { CallContext } from "../pipeline/context.js";
import type { Upstream } from "../pipeline/upstream.js";
import type { Logger } from "../log.js";
import { formatHostPort } from "./address.js";
import { ClusterInfoService } from "../../generated/seed/clusterinfo.js";

export interface RemoteClusterInfo {
  externalIP(remoteHost: string, internalIP: string, ctx: CallContext): Promise<string | undefined>;
  /** A cached answer, without asking. */
  cached(remoteHost: string, internalIP: string): string | undefined;
}

/** A failed lookup is not retried for this long, so an unreachable remote costs one call, not one per Request. */
const NEGATIVE_TTL_MS = 5000;

export function createRemoteClusterInfo(upstream: Upstream, remotePort: number, log: Logger, maxEntries = 4096, now: () => number = Date.now): RemoteClusterInfo {
  const cache = new Map<string, string>();
  const failedUntil = new Map<string, number>();
  const keyOf = (host: string, ip: string) => `${host}|${ip}`;
  return {
    cached: (host, ip) => cache.get(keyOf(host, ip)),
    async externalIP(remoteHost, internalIP, ctx) {
      const key = keyOf(remoteHost, internalIP);
      const known = cache.get(key);
      if (known !== undefined) return known;
      if ((failedUntil.get(key) ?? 0) > now()) return undefined;
      const address = formatHostPort(remoteHost, remotePort);
      try {
        const answer = await firstValueFrom(upstream.unary(address, ClusterInfoService.getNodeIpConfiguration, { nodeName: "", internalIP, externalIP: "" }, ctx));
        const external = answer.externalIP || undefined;
        if (external !== undefined) {
          if (cache.size >= maxEntries) cache.delete(cache.keys().next().value as string);
          cache.set(key, external);
        }
        return external;
      } catch (error: unknown) {
        if (failedUntil.size >= maxEntries) failedUntil.delete(failedUntil.keys().next().value as string);
        failedUntil.set(key, now() + NEGATIVE_TTL_MS);
        log.debug("remote ClusterInfo lookup failed; dst_ip left as the remote gave it", { address, internalIP, error: String((error as Error).message) });
        return undefined;
      }
    },
  };
}
