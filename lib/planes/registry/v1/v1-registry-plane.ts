/**
 * NSM v1 registry plane: what nsmgr-proxy and registry-proxy-dns did together, in one process.
 * Each handler is one chain, read top to bottom on the way out (answers pass back bottom to top).
 * Every chain starts with: deadline (Finds: only when not watching) → check → path-metadata, then
 * interdomain-branch sends calls whose names carry `@domain` to the interdomain chain and lets plain
 * calls go on to the local registry (NSM_REGISTRY_URL) unchanged.
 *
 *   NS  Register/Unregister  @domain: ns-name-suffix → remote-registry-route → forward
 *   NS  Find                 @domain: ns-name-suffix → stale-answers → watch-reconnect → remote-registry-route
 *                                     → watch-end → forward (stream)
 *   NSE Find                 @domain: interdomain-bypass → swap-ip → remote-proxy-url → nse-name-suffix
 *                                     → stale-answers → watch-reconnect → remote-registry-route → watch-end
 *                                     → forward (stream)
 *   NSE Register             @domain: interdomain-bypass → swap-ip → cluster-info-labels → nse-name-suffix
 *                                     → remote-registry-route → forward
 *   NSE Unregister           @domain: interdomain-bypass → swap-ip → nse-name-suffix → remote-registry-route → forward
 *   any plain call:                   configured-route (local registry) [→ watch-end] → forward
 *
 * Plain names: the Go nsmgr-proxy sent everything to registry-proxy-dns, which fails a name without a
 * domain (it looks up `registry.nsm-system.` or says "domain cannot be empty"). pnsmgr forwards them to
 * the local registry instead, untouched: the local registry never sends plain names back to its proxy
 * (it forwards only names with '@'), so there is no loop, and a domain whose DNS names pnsmgr as its
 * registry (one exposed port per domain) still works.
 */
import type { PlaneDeps } from "../../deps.js";
import { chain, type Handler } from "../../../pipeline/element.js";
import { deadline } from "../../../pipeline/deadline.js";
import { forwardServerStream, forwardUnary } from "../../../pipeline/forward.js";
import { type SrvResolver, createSrvResolver } from "../../../domains/srv-resolve.js";
import {
  type NetworkService,
  type NetworkServiceEndpoint,
  type NetworkServiceEndpointQuery,
  NetworkServiceEndpointRegistryService,
  type NetworkServiceEndpointResponse,
  type NetworkServiceQuery,
  NetworkServiceRegistryService,
  type NetworkServiceResponse,
} from "../../../../generated/nsm/registry.js";
import type { Empty } from "../../../../generated/nsm/google/protobuf/empty.js";
import { configuredRoute } from "../configured-route.js";
import { checkNseQuery, checkNseRegistration, checkNsQuery, checkNsRegistration } from "./check-request.js";
import { clusterInfoLabels } from "./cluster-info-labels.js";
import { findDeadline } from "./find-deadline.js";
import { interdomainBranch } from "./interdomain-branch.js";
import { interdomainBypassFind, interdomainBypassRegister, interdomainBypassUnregister } from "./interdomain-bypass.js";
import { domainOfNs, domainOfNse } from "./interdomain-names.js";
import { nsNameSuffix, nsQueryNameSuffix, nsUnregisterNameSuffix } from "./ns-name-suffix.js";
import { nseNameSuffix, nseQueryNameSuffix, nseUnregisterNameSuffix } from "./nse-name-suffix.js";
import { dialAddressOf } from "../../../domains/nsm-url.js";
import { passPathMetadata } from "./path-metadata.js";
import { authorizeRegistration } from "./authorize-registration.js";
import { type RegistrationOwners, createRegistrationOwners } from "../../../identity/registration-owners.js";
import { remoteProxyUrl } from "./remote-proxy-url.js";
import { remoteRegistryRoute } from "./remote-registry-route.js";
import { swapIpFind, swapIpRegister, swapIpUnregister, swapUrl } from "./swap-ip-url.js";
import { watchEnd } from "./watch-end.js";
import { staleAnswers } from "./stale-answers.js";
import { nseWatchEntries, nsWatchEntries } from "./watch-entries.js";
import { type WatchEntries, watchReconnect } from "./watch-reconnect.js";

export interface V1RegistryPlane {
  nsRegister: Handler<NetworkService, NetworkService>;
  nsFind: Handler<NetworkServiceQuery, NetworkServiceResponse>;
  nsUnregister: Handler<NetworkService, Empty>;
  nseRegister: Handler<NetworkServiceEndpoint, NetworkServiceEndpoint>;
  nseFind: Handler<NetworkServiceEndpointQuery, NetworkServiceEndpointResponse>;
  nseUnregister: Handler<NetworkServiceEndpoint, Empty>;
  close(): void;
}

export interface V1RegistryPlaneOptions {
  /** Domain resolution; by default SRV/A lookups at config.dnsServer (or the system's resolver). */
  readonly resolver?: SrvResolver;
}

export function createV1RegistryPlane(deps: PlaneDeps, options: V1RegistryPlaneOptions = {}): V1RegistryPlane {
  // Under mTLS the transport's per-call credentials send our own token instead of the caller's.
  const carryTokens = deps.identity === undefined;
  // Secured mode: NSM's registry policy client_allowed on Register/Unregister (per kind of name, as the SDK keeps them).
  const { identity } = deps;
  const nsOwners = createRegistrationOwners();
  const nseOwners = createRegistrationOwners();
  const allowed = <Req extends { name: string; pathIds: string[] }, Res>(owners: RegistrationOwners, kind: "register" | "unregister") =>
    identity ? [authorizeRegistration<Req, Res>(identity, owners, kind)] : [];
  const { config, upstream, routes, ipMap, clusterInfo, publicUrl, log } = deps;
  const resolver =
    options.resolver ??
    createSrvResolver({ dnsServer: config.dnsServer, cacheTtlMs: config.dnsCacheTtlMs, ...(deps.dns ? { dns: deps.dns } : {}), ...(deps.vet ? { vet: deps.vet } : {}) });
  const localRegistry = config.registryUrl === undefined ? undefined : dialAddressOf(config.registryUrl, "NSM_REGISTRY_URL");
  const toLocal = <Req, Res>() => configuredRoute<Req, Res>(localRegistry, "NSM_REGISTRY_URL", "local registry");
  const toDomain = <Req, Res>() => remoteRegistryRoute<Req, Res>(resolver, config.registryService);
  const bypass = { routes, publicUrl, isOwnUrl: (url: string) => url === publicUrl || url === swapUrl(publicUrl, ipMap) };
  const ns = NetworkServiceRegistryService;
  const nse = NetworkServiceEndpointRegistryService;
  // A remote registry restarting: listing Finds answered from its last good answer, watches reconnected (both bounded).
  const restartTolerant = <Req extends { watch: boolean }, Res>(entries: WatchEntries<Res>) => [
    staleAnswers<Req, Res>({ staleForMs: config.registryStaleForMs, log }),
    watchReconnect<Req, Res>(entries, { giveUpAfterMs: config.registryStaleForMs, listTimeoutMs: config.callTimeoutMs, log }),
  ];

  return {
    nsRegister: chain(
      deadline<NetworkService, NetworkService>(config.callTimeoutMs),
      checkNsRegistration<NetworkService>(),
      ...allowed<NetworkService, NetworkService>(nsOwners, "register"),
      passPathMetadata(carryTokens),
      interdomainBranch(domainOfNs, chain(nsNameSuffix(), toDomain())(forwardUnary(upstream, ns.register))),
      toLocal(),
    )(forwardUnary(upstream, ns.register)),

    nsFind: chain(
      findDeadline<NetworkServiceQuery, NetworkServiceResponse>(config.callTimeoutMs),
      checkNsQuery(),
      passPathMetadata(carryTokens),
      interdomainBranch(
        (q: NetworkServiceQuery) => (q.networkService === undefined ? undefined : domainOfNs(q.networkService)),
        chain(nsQueryNameSuffix(), ...restartTolerant<NetworkServiceQuery, NetworkServiceResponse>(nsWatchEntries), toDomain(), watchEnd())(
          forwardServerStream(upstream, ns.find),
        ),
      ),
      toLocal(),
      watchEnd(),
    )(forwardServerStream(upstream, ns.find)),

    nsUnregister: chain(
      deadline<NetworkService, Empty>(config.callTimeoutMs),
      checkNsRegistration<Empty>(),
      ...allowed<NetworkService, Empty>(nsOwners, "unregister"),
      passPathMetadata(carryTokens),
      interdomainBranch(domainOfNs, chain(nsUnregisterNameSuffix(), toDomain())(forwardUnary(upstream, ns.unregister))),
      toLocal(),
    )(forwardUnary(upstream, ns.unregister)),

    nseRegister: chain(
      deadline<NetworkServiceEndpoint, NetworkServiceEndpoint>(config.callTimeoutMs),
      checkNseRegistration<NetworkServiceEndpoint>(),
      ...allowed<NetworkServiceEndpoint, NetworkServiceEndpoint>(nseOwners, "register"),
      passPathMetadata(carryTokens),
      interdomainBranch(
        domainOfNse,
        chain(
          interdomainBypassRegister(bypass), // url := ours; learns name -> the registering NSMgr's url
          swapIpRegister(ipMap), //             our pod IP -> external IP
          clusterInfoLabels(clusterInfo), //    clusterName... into every label entry
          nseNameSuffix(),
          toDomain(),
        )(forwardUnary(upstream, nse.register)),
      ),
      toLocal(),
    )(forwardUnary(upstream, nse.register)),

    nseFind: chain(
      findDeadline<NetworkServiceEndpointQuery, NetworkServiceEndpointResponse>(config.callTimeoutMs),
      checkNseQuery(),
      passPathMetadata(carryTokens),
      interdomainBranch(
        (q: NetworkServiceEndpointQuery) => (q.networkServiceEndpoint === undefined ? undefined : domainOfNse(q.networkServiceEndpoint)),
        chain(
          interdomainBypassFind(bypass), //                         learns name -> url, url := ours
          swapIpFind(ipMap), //                                     remote proxy's IP mapped, if known
          remoteProxyUrl(resolver, config.nsmgrProxyService, log), // url := the domain's proxy (SRV), if any
          nseQueryNameSuffix(),
          ...restartTolerant<NetworkServiceEndpointQuery, NetworkServiceEndpointResponse>(nseWatchEntries),
          toDomain(),
          watchEnd(),
        )(forwardServerStream(upstream, nse.find)),
      ),
      toLocal(),
      watchEnd(),
    )(forwardServerStream(upstream, nse.find)),

    nseUnregister: chain(
      deadline<NetworkServiceEndpoint, Empty>(config.callTimeoutMs),
      checkNseRegistration<Empty>(),
      ...allowed<NetworkServiceEndpoint, Empty>(nseOwners, "unregister"),
      passPathMetadata(carryTokens),
      interdomainBranch(
        domainOfNse,
        chain(interdomainBypassUnregister(bypass), swapIpUnregister(ipMap), nseUnregisterNameSuffix(), toDomain())(forwardUnary(upstream, nse.unregister)),
      ),
      toLocal(),
    )(forwardUnary(upstream, nse.unregister)),

    close() {
      if (options.resolver === undefined) resolver.close();
    },
  };
}
