/**
 * NSM's registry swapip: the host of an NSE url is replaced by what the IP map (map-ip.yaml) maps it
 * to - the proxy's pod IP becomes the node's external IP before it is published, a found url's
 * internal IP becomes reachable. An IP not in the map, or a url that does not parse, is left as it is.
 * Register: the outgoing NSE and the answer; Unregister: the outgoing NSE; Find: each response.
 */
import { map } from "rxjs";
import { named, type Element } from "../../../pipeline/element.js";
import type { IpMap } from "../../../nodes/ip-map.js";
import type { Empty } from "../../../../generated/nsm/google/protobuf/empty.js";
import type { NetworkServiceEndpoint, NetworkServiceEndpointQuery, NetworkServiceEndpointResponse } from "../../../../generated/nsm/registry.js";
import { urlHost, withUrlHost } from "../../../domains/nsm-url.js";

export function swapUrl(url: string, ipMap: IpMap): string {
  const host = urlHost(url);
  const mapped = host === undefined ? undefined : ipMap.get(host);
  return mapped === undefined ? url : withUrlHost(url, mapped);
}

const swapNse = (nse: NetworkServiceEndpoint, ipMap: IpMap): NetworkServiceEndpoint => ({ ...nse, url: swapUrl(nse.url, ipMap) });

export function swapIpRegister(ipMap: IpMap): Element<NetworkServiceEndpoint, NetworkServiceEndpoint> {
  return named("swap-ip", next => (req, ctx) => next(swapNse(req, ipMap), ctx).pipe(map(nse => swapNse(nse, ipMap))));
}

export function swapIpUnregister(ipMap: IpMap): Element<NetworkServiceEndpoint, Empty> {
  return named("swap-ip", next => (req, ctx) => next(swapNse(req, ipMap), ctx));
}

export function swapIpFind(ipMap: IpMap): Element<NetworkServiceEndpointQuery, NetworkServiceEndpointResponse> {
  return named("swap-ip", next => (req, ctx) =>
    next(req, ctx).pipe(map(res => (res.networkServiceEndpoint === undefined ? res : { ...res, networkServiceEndpoint: swapNse(res.networkServiceEndpoint, ipMap) }))),
  );
}
