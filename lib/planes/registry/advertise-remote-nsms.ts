/**
 * NSMgrs of another domain are reached through this proxy: in a Find answer each one (except those
 * on this node, which localize-nsm handles) is renamed "<name>@<url>" and its URL becomes this
 * proxy's advertised address (PROXY_NSMD_ADDRESS). Map keys and the endpoints'
 * network_service_manager_name are left as they are, so they still match each other.
 */
import { map } from "rxjs";
import { named, type Element } from "../../pipeline/element.js";
import type { FindNetworkServiceRequest, FindNetworkServiceResponse } from "../../../generated/seed/registry.js";
import type { OnThisNode } from "./this-node.js";

export function advertiseRemoteNsms(advertisedAddress: string, isOnThisNode: OnThisNode): Element<FindNetworkServiceRequest, FindNetworkServiceResponse> {
  return named("advertise-remote-nsms", next => (req, ctx) =>
    next(req, ctx).pipe(
      map(res => ({
        ...res,
        networkServiceManagers: Object.fromEntries(
          Object.entries(res.networkServiceManagers).map(([key, nsm]) =>
            isOnThisNode(nsm.url) ? [key, nsm] : [key, { ...nsm, name: `${nsm.name}@${nsm.url}`, url: advertisedAddress }],
          ),
        ),
      })),
    ),
  );
}
