/**
 * NSM v1 registry plane: what nsmgr-proxy and registry-proxy-dns did together, in one process.
 * Each handler is one chain, read top to bottom on the way out (answers pass back bottom to top).
 * Every chain starts with: deadline (Finds: only when not watching) → check → [client-allowed, secured
 * Register/Unregister] → path-metadata [→ path-header, Register/Unregister], then interdomain-branch
 * sends calls whose names carry `@domain` to the interdomain chain and lets plain calls go on to the
 * local registry (NSM_REGISTRY_URL) unchanged.
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
import { chain, type Element, type Handler } from "../../../pipeline/element.js";
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
import { relayPathHeader } from "./path-header.js";
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
  const { config } = deps;
  const resolver =
    options.resolver ??
    createSrvResolver({ dnsServer: config.dnsServer, cacheTtlMs: config.dnsCacheTtlMs, ...(deps.dns ? { dns: deps.dns } : {}), ...(deps.vet ? { vet: deps.vet } : {}) });
  const parts = chainParts(deps, resolver);
  return {
    ...nsHandlers(parts),
    ...nseHandlers(parts),
    close() {
      if (options.resolver === undefined) resolver.close();
    },
  };
}

/** The pieces the six chains share, made once per plane. */
interface ChainParts {
  readonly deps: PlaneDeps;
  /** deadline → check → [client-allowed] → path-metadata → path-header: the start of a Register/Unregister chain. */
  registration<Req extends { name: string; pathIds: string[] }, Res>(check: Element<Req, Res>, owners: RegistrationOwners, kind: "register" | "unregister"): Element<Req, Res>[];
  /** The start of a Find chain: find-deadline → check → path-metadata. */
  query<Req extends { watch: boolean }, Res>(check: Element<Req, Res>): Element<Req, Res>[];
  toLocal<Req, Res>(): Element<Req, Res>;
  toDomain<Req, Res>(): Element<Req, Res>;
  /** A remote registry restarting: listing Finds answered from its last good answer, watches reconnected (both bounded). */
  restartTolerant<Req extends { watch: boolean }, Res>(entries: WatchEntries<Res>): Element<Req, Res>[];
  readonly resolver: SrvResolver;
  readonly nsOwners: RegistrationOwners;
  readonly nseOwners: RegistrationOwners;
}

function chainParts(deps: PlaneDeps, resolver: SrvResolver): ChainParts {
  const { config, identity, log } = deps;
  // Under mTLS the transport's per-call credentials send our own token instead of the caller's.
  const carryTokens = identity === undefined;
  const localRegistry = config.registryUrl === undefined ? undefined : dialAddressOf(config.registryUrl, "NSM_REGISTRY_URL");
  return {
    deps,
    resolver,
    // Secured mode: NSM's registry policy client_allowed on Register/Unregister (per kind of name, as the SDK keeps them).
    nsOwners: createRegistrationOwners(),
    nseOwners: createRegistrationOwners(),
    registration: <Req extends { name: string; pathIds: string[] }, Res>(check: Element<Req, Res>, owners: RegistrationOwners, kind: "register" | "unregister") => [
      deadline<Req, Res>(config.callTimeoutMs),
      check,
      ...(identity ? [authorizeRegistration<Req, Res>(identity, owners, kind)] : []),
      passPathMetadata<Req, Res>(carryTokens),
      relayPathHeader<Req, Res>(),
    ],
    query: <Req extends { watch: boolean }, Res>(check: Element<Req, Res>) => [findDeadline<Req, Res>(config.callTimeoutMs), check, passPathMetadata<Req, Res>(carryTokens)],
    toLocal: <Req, Res>() => configuredRoute<Req, Res>(localRegistry, "NSM_REGISTRY_URL", "local registry"),
    toDomain: <Req, Res>() => remoteRegistryRoute<Req, Res>(resolver, config.registryService),
    restartTolerant: <Req extends { watch: boolean }, Res>(entries: WatchEntries<Res>) => [
      staleAnswers<Req, Res>({ staleForMs: config.registryStaleForMs, log }),
      watchReconnect<Req, Res>(entries, { giveUpAfterMs: config.registryStaleForMs, listTimeoutMs: config.callTimeoutMs, log }),
    ],
  };
}

type NsHandlers = Pick<V1RegistryPlane, "nsRegister" | "nsFind" | "nsUnregister">;

function nsHandlers(p: ChainParts): NsHandlers {
  const { upstream } = p.deps;
  const ns = NetworkServiceRegistryService;
  return {
    nsRegister: chain(
      ...p.registration(checkNsRegistration<NetworkService>(), p.nsOwners, "register"),
      interdomainBranch(domainOfNs, chain(nsNameSuffix(), p.toDomain())(forwardUnary(upstream, ns.register))),
      p.toLocal(),
    )(forwardUnary(upstream, ns.register)),

    nsFind: chain(
      ...p.query(checkNsQuery()),
      interdomainBranch(
        (q: NetworkServiceQuery) => (q.networkService === undefined ? undefined : domainOfNs(q.networkService)),
        chain(nsQueryNameSuffix(), ...p.restartTolerant<NetworkServiceQuery, NetworkServiceResponse>(nsWatchEntries), p.toDomain(), watchEnd())(
          forwardServerStream(upstream, ns.find),
        ),
      ),
      p.toLocal(),
      watchEnd(),
    )(forwardServerStream(upstream, ns.find)),

    nsUnregister: chain(
      ...p.registration(checkNsRegistration<Empty>(), p.nsOwners, "unregister"),
      interdomainBranch(domainOfNs, chain(nsUnregisterNameSuffix(), p.toDomain())(forwardUnary(upstream, ns.unregister))),
      p.toLocal(),
    )(forwardUnary(upstream, ns.unregister)),
  };
}

type NseHandlers = Pick<V1RegistryPlane, "nseRegister" | "nseFind" | "nseUnregister">;

function nseHandlers(p: ChainParts): NseHandlers {
  const { upstream, routes, ipMap, clusterInfo, publicUrl, config, log } = p.deps;
  const bypass = { routes, publicUrl, isOwnUrl: (url: string) => url === publicUrl || url === swapUrl(publicUrl, ipMap) };
  const nse = NetworkServiceEndpointRegistryService;
  return {
    nseRegister: chain(
      ...p.registration(checkNseRegistration<NetworkServiceEndpoint>(), p.nseOwners, "register"),
      interdomainBranch(
        domainOfNse,
        chain(
          interdomainBypassRegister(bypass), // url := ours; learns name -> the registering NSMgr's url
          swapIpRegister(ipMap), //             our pod IP -> external IP
          clusterInfoLabels(clusterInfo), //    clusterName... into every label entry
          nseNameSuffix(),
          p.toDomain(),
        )(forwardUnary(upstream, nse.register)),
      ),
      p.toLocal(),
    )(forwardUnary(upstream, nse.register)),

    nseFind: chain(
      ...p.query(checkNseQuery()),
      interdomainBranch(
        (q: NetworkServiceEndpointQuery) => (q.networkServiceEndpoint === undefined ? undefined : domainOfNse(q.networkServiceEndpoint)),
        chain(
          interdomainBypassFind(bypass), //                           learns name -> url, url := ours
          swapIpFind(ipMap), //                                       remote proxy's IP mapped, if known
          remoteProxyUrl(p.resolver, config.nsmgrProxyService, log), // url := the domain's proxy (SRV), if any
          nseQueryNameSuffix(),
          ...p.restartTolerant<NetworkServiceEndpointQuery, NetworkServiceEndpointResponse>(nseWatchEntries),
          p.toDomain(),
          watchEnd(),
        )(forwardServerStream(upstream, nse.find)),
      ),
      p.toLocal(),
      watchEnd(),
    )(forwardServerStream(upstream, nse.find)),

    nseUnregister: chain(
      ...p.registration(checkNseRegistration<Empty>(), p.nseOwners, "unregister"),
      interdomainBranch(
        domainOfNse,
        chain(interdomainBypassUnregister(bypass), swapIpUnregister(ipMap), nseUnregisterNameSuffix(), p.toDomain())(forwardUnary(upstream, nse.unregister)),
      ),
      p.toLocal(),
    )(forwardUnary(upstream, nse.unregister)),
  };
}
