/**
 * An NSE registered in the floating registry (NSMRS) is reached from other domains, so the URL of
 * its NSMgr goes out with the node's external IP as host (see external-url.ts), port kept. A URL no
 * node matches is forwarded as it is (already external, or a single-address node), logged at debug.
 * Runs after check-registration, which guarantees the NSMgr is there.
 */
import type { Observable } from "rxjs";
import type { Element } from "../../pipeline/element.js";
import type { Logger } from "../../log.js";
import type { NodeMap } from "../../nodes/node-map.js";
import type { NSERegistration } from "../../../generated/seed/registry.js";
import { externalUrl } from "./external-url.js";
import { type Rewrite, rewriteEachMessage, rewriteRequest } from "./rewrite-request.js";

function withExternalUrl(nodes: NodeMap, log: Logger): Rewrite<NSERegistration> {
  return reg => {
    const nsm = reg.networkServiceManager;
    if (!nsm) return reg;
    const url = externalUrl(nodes, nsm.url, nsm.name);
    if (url === undefined) {
      log.debug("NSMgr URL registered as is: no node in the node map matches it", { nsm: nsm.name, url: nsm.url });
      return reg;
    }
    return url === nsm.url ? reg : { ...reg, networkServiceManager: { ...nsm, url } };
  };
}

export function externalRegistrationUrl<Res>(nodes: NodeMap, log: Logger): Element<NSERegistration, Res> {
  return rewriteRequest("external-registration-url", withExternalUrl(nodes, log));
}

export function externalBulkRegistrationUrl<Res>(nodes: NodeMap, log: Logger): Element<Observable<NSERegistration>, Res> {
  return rewriteEachMessage("external-registration-url", withExternalUrl(nodes, log));
}
