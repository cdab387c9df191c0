/**
 * The seed's (v0) registry plane, what proxy-nsmd-k8s served: FindNetworkService across domains,
 * NSE registration forwarded to the floating registry (NSMRS), and ClusterInfo from the node map.
 * Each handler is one chain, read top to bottom on the way out (responses pass back bottom to top).
 *
 *   Find:     deadline → check → interdomain-branch ─┬ "svc@domain": remote-domain-route → interdomain-service-name
 *                                                    │               → advertise-remote-nsms → localize-nsm → forward
 *                                                    └ "svc":        configured-route (local registry) → external-nsm-urls → forward
 *   Register: deadline → check → configured-route (NSMRS) → external-registration-url → forward
 *   Bulk:     configured-route (NSMRS) → check each → external URL each → reconnect-bulk → forward (bidi)
 *   Remove:   deadline → check → configured-route (NSMRS) → forward
 *   ClusterInfo: deadline → check → answer from the node map
 */
import type { Observable } from "rxjs";
import type { PlaneDeps } from "../deps.js";
import { chain, type Handler } from "../../pipeline/element.js";
import { deadline } from "../../pipeline/deadline.js";
import { forwardBidiStream, forwardUnary } from "../../pipeline/forward.js";
import {
  type FindNetworkServiceRequest,
  type FindNetworkServiceResponse,
  type NSERegistration,
  NetworkServiceDiscoveryService,
  NetworkServiceRegistryService,
  type RemoveNSERequest,
} from "../../../generated/seed/registry.js";
import type { NodeIPConfiguration } from "../../../generated/seed/clusterinfo.js";
import type { Empty } from "../../../generated/seed/google/protobuf/empty.js";
import { advertiseRemoteNsms } from "./advertise-remote-nsms.js";
import { checkFindRequest } from "./check-find-request.js";
import { checkNodeQuery } from "./check-node-query.js";
import { checkBulkRegistration, checkRegistration } from "./check-registration.js";
import { checkRemoveRequest } from "./check-remove-request.js";
import { configuredRoute } from "./configured-route.js";
import { externalNsmUrls } from "./external-nsm-urls.js";
import { externalBulkRegistrationUrl, externalRegistrationUrl } from "./external-registration-url.js";
import { interdomainBranch } from "./interdomain-branch.js";
import { interdomainServiceName } from "./interdomain-service-name.js";
import { localizeNsm } from "./localize-nsm.js";
import { nodeIPConfiguration } from "./node-ip-configuration.js";
import { type ReconnectBulkOptions, reconnectBulk } from "./reconnect-bulk.js";
import { remoteDomainRoute } from "./remote-domain-route.js";
import { onThisNode } from "./this-node.js";

export interface SeedRegistryPlane {
  findNetworkService: Handler<FindNetworkServiceRequest, FindNetworkServiceResponse>;
  registerNSE: Handler<NSERegistration, NSERegistration>;
  bulkRegisterNSE: Handler<Observable<NSERegistration>, NSERegistration>;
  removeNSE: Handler<RemoveNSERequest, Empty>;
  getNodeIPConfiguration: Handler<NodeIPConfiguration, NodeIPConfiguration>;
}

export interface SeedRegistryPlaneOptions {
  /** BulkRegisterNSE reconnects to NSMRS (tests shorten the delay). */
  readonly bulkReconnect?: Omit<ReconnectBulkOptions, "log">;
}

export function createSeedRegistryPlane(deps: PlaneDeps, options: SeedRegistryPlaneOptions = {}): SeedRegistryPlane {
  const { config, upstream, resolver, nodes, log } = deps;
  const isOnThisNode = onThisNode(nodes, config.nodeName);
  const toNsmrs = <Req, Res>() => configuredRoute<Req, Res>(config.nsmrsAddress, "NSMRS_ADDRESS", "floating registry (NSMRS)");

  /** "service@domain": asked of the domain's registry, its NSMgrs then reached through this proxy. */
  const findInDomain = chain(
    // resolve the domain; next hop = its proxy registry (or NSMRS)
    remoteDomainRoute(resolver, config.remotePort),
    // "service@domain" goes out as "service"; the answer names it "service@domain" again
    interdomainServiceName(),
    // other nodes' NSMgrs: "name@url", reached at this proxy's advertised address
    advertiseRemoteNsms(config.advertisedAddress, isOnThisNode),
    // this node's NSMgr: NODE_NAME. Must come after advertise-remote-nsms: it sees the answer first
    localizeNsm(config.nodeName, isOnThisNode),
  )(forwardUnary(upstream, NetworkServiceDiscoveryService.findNetworkService));

  /** Plain "service": what a remote domain asks; answered by the local registry, with external IPs. */
  const findHere = chain(
    configuredRoute<FindNetworkServiceRequest, FindNetworkServiceResponse>(config.localRegistryAddress, "PNSMGR_LOCAL_REGISTRY", "local registry"),
    externalNsmUrls(nodes, log), // NSMgr URLs: node internal IP -> external IP
  )(forwardUnary(upstream, NetworkServiceDiscoveryService.findNetworkService));

  return {
    findNetworkService: chain(
      deadline<FindNetworkServiceRequest, FindNetworkServiceResponse>(config.callTimeoutMs),
      checkFindRequest(),
      interdomainBranch(findInDomain), // "service@domain" -> findInDomain, else on to findHere
    )(findHere),

    registerNSE: chain(
      deadline<NSERegistration, NSERegistration>(config.callTimeoutMs),
      checkRegistration(),
      toNsmrs(),
      externalRegistrationUrl(nodes, log),
    )(forwardUnary(upstream, NetworkServiceRegistryService.registerNse)),

    bulkRegisterNSE: chain(
      toNsmrs<Observable<NSERegistration>, NSERegistration>(),
      checkBulkRegistration(), //                   each message, as RegisterNSE
      externalBulkRegistrationUrl(nodes, log), //   each message, as RegisterNSE
      reconnectBulk({ ...options.bulkReconnect, log }), // resend what NSMRS has not acknowledged
    )(forwardBidiStream(upstream, NetworkServiceRegistryService.bulkRegisterNse)),

    removeNSE: chain(
      deadline<RemoveNSERequest, Empty>(config.callTimeoutMs),
      checkRemoveRequest(),
      toNsmrs(),
    )(forwardUnary(upstream, NetworkServiceRegistryService.removeNse)),

    getNodeIPConfiguration: chain(
      deadline<NodeIPConfiguration, NodeIPConfiguration>(config.callTimeoutMs),
      checkNodeQuery(),
    )(nodeIPConfiguration(nodes)),
  };
}
