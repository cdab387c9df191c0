/**
 * The seed's localize case: an NSMgr in a Find answer that is this very node (its URL's host is
 * this node's external or internal IP, see this-node.ts) is given back as the local NSMgr, so the
 * client NSMgr treats its endpoints as local instead of dialling itself through the proxy:
 *   - the NSMgr's name becomes NODE_NAME and its entry is stored under the key NODE_NAME (its URL
 *     is kept);
 *   - each endpoint that pointed at it - network_service_manager_name equal to the old key or the
 *     old name, or ending in "_<url with ':' as '_'>" (the name NSMRS gives it, "name_ip_port") -
 *     points at NODE_NAME.
 * Every other entry passes unchanged. If two entries localize, the first one's fields are kept.
 * Another node's entry found under the key NODE_NAME is replaced: the seed's naming cannot tell the
 * two apart (a client NSMgr takes any endpoint of an NSMgr named like itself as local).
 */
import { map } from "rxjs";
import { named, type Element } from "../../pipeline/element.js";
import type { FindNetworkServiceRequest, FindNetworkServiceResponse, NetworkServiceManager } from "../../../generated/seed/registry.js";
import type { OnThisNode } from "./this-node.js";

export function localizeNsm(nodeName: string | undefined, isOnThisNode: OnThisNode): Element<FindNetworkServiceRequest, FindNetworkServiceResponse> {
  return named("localize-nsm", next => (req, ctx) => {
    const response$ = next(req, ctx);
    if (!nodeName) return response$;
    return response$.pipe(map(res => localize(res, nodeName, isOnThisNode)));
  });
}

function localize(res: FindNetworkServiceResponse, nodeName: string, isOnThisNode: OnThisNode): FindNetworkServiceResponse {
  const managers: Record<string, NetworkServiceManager> = {};
  const renamed: { key: string; name: string; nsmrsSuffix: string }[] = [];
  let localized: NetworkServiceManager | undefined;
  for (const [key, nsm] of Object.entries(res.networkServiceManagers)) {
    if (!isOnThisNode(nsm.url)) {
      managers[key] = nsm;
      continue;
    }
    renamed.push({ key, name: nsm.name, nsmrsSuffix: `_${nsm.url.replaceAll(":", "_")}` });
    localized ??= { ...nsm, name: nodeName };
  }
  if (!localized) return res;
  managers[nodeName] = localized;
  const pointsHere = (nsmName: string) => renamed.some(r => nsmName === r.key || nsmName === r.name || nsmName.endsWith(r.nsmrsSuffix));
  return {
    ...res,
    networkServiceManagers: managers,
    networkServiceEndpoints: res.networkServiceEndpoints.map(nse =>
      pointsHere(nse.networkServiceManagerName) ? { ...nse, networkServiceManagerName: nodeName } : nse,
    ),
  };
}
