/**
 * Finds an NSE by its exact name in the local v1 registry (NSM_REGISTRY_URL,
 * NetworkServiceEndpointRegistry/Find with watch=false) and answers its URL. NOT_FOUND when the
 * registry has no such NSE, UNAVAILABLE when no registry is configured or it cannot be reached;
 * other codes of the registry are kept.
 */
import { type Observable, catchError, map, throwError, toArray } from "rxjs";
import type { CallContext } from "../../../pipeline/context.js";
import { ProxyError, notFound, unavailable, quoted } from "../../../pipeline/errors.js";
import type { Upstream } from "../../../pipeline/upstream.js";
import { NetworkServiceEndpointRegistryService } from "../../../../generated/nsm/registry.js";
import { dialAddressOf } from "../../../domains/nsm-url.js";

export interface NseDiscovery {
  /** The URL the NSE named `name` registered with. */
  urlOf(name: string, ctx: CallContext): Observable<string>;
}

export function registryNseDiscovery(upstream: Upstream, registryUrl: string | undefined): NseDiscovery {
  return {
    urlOf(name, ctx) {
      if (registryUrl === undefined) {
        return throwError(() => unavailable(`cannot discover NSE ${quoted(name)}: no local registry is configured (NSM_REGISTRY_URL)`));
      }
      const address = dialAddressOf(registryUrl, "NSM_REGISTRY_URL");
      const query = {
        networkServiceEndpoint: { name, networkServiceNames: [], networkServiceLabels: {}, url: "", expirationTime: undefined, initialRegistrationTime: undefined, pathIds: [] },
        watch: false,
      };
      return upstream.serverStream(address, NetworkServiceEndpointRegistryService.find, query, ctx).pipe(
        toArray(),
        map(responses => {
          const nse = responses.find(r => !r.deleted && r.networkServiceEndpoint?.name === name)?.networkServiceEndpoint;
          if (!nse) throw notFound(`network service endpoint ${quoted(name)} not found in the registry ${registryUrl}`);
          if (nse.url === "") throw notFound(`network service endpoint ${quoted(name)} has no URL in the registry ${registryUrl}`);
          return nse.url;
        }),
        catchError((error: unknown) => throwError(() => ProxyError.from(error).withContext(`discover NSE ${quoted(name)}`))),
      );
    },
  };
}
