/**
 * Local branch of FindNetworkService (what a remote domain asks): the local registry answers with
 * node-internal NSMgr URLs, which another domain cannot dial, so each URL's host becomes that node's
 * external IP (see external-url.ts; the map key is tried as a node name too). An NSMgr no node
 * matches keeps its URL, logged at debug.
 */
import { map } from "rxjs";
import { named, type Element } from "../../pipeline/element.js";
import type { Logger } from "../../log.js";
import type { NodeMap } from "../../nodes/node-map.js";
import type { FindNetworkServiceRequest, FindNetworkServiceResponse } from "../../../generated/seed/registry.js";
import { externalUrl } from "./external-url.js";

export function externalNsmUrls(nodes: NodeMap, log: Logger): Element<FindNetworkServiceRequest, FindNetworkServiceResponse> {
  return named("external-nsm-urls", next => (req, ctx) =>
    next(req, ctx).pipe(
      map(res => ({
        ...res,
        networkServiceManagers: Object.fromEntries(
          Object.entries(res.networkServiceManagers).map(([key, nsm]) => {
            const url = externalUrl(nodes, nsm.url, nsm.name) ?? externalUrl(nodes, nsm.url, key);
            if (url === undefined) {
              log.debug("NSMgr URL kept: no node in the node map matches it", { nsm: nsm.name, url: nsm.url });
              return [key, nsm];
            }
            return [key, url === nsm.url ? nsm : { ...nsm, url }];
          }),
        ),
      })),
    ),
  );
}
