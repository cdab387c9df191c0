/**
 * Everything a gateway dials through, built once from the configuration: the DNS client with its
 * cache, the host lookup, the destination guard (PNSMGR_DIAL_ALLOW / PNSMGR_DIAL_DENY) and the guarded
 * Upstream over a client pool. The operator's configured addresses (NSMRS_ADDRESS,
 * PNSMGR_LOCAL_REGISTRY, NSM_REGISTRY_URL) are trusted: dialled as configured, not subject to the rules.
 */
import type { Config } from "../config.js";
import type { Logger } from "../log.js";
import type { Upstream } from "../pipeline/upstream.js";
import { type DnsClient, createDnsCache, lookupVia, nodeDnsClient } from "../domains/dns-cache.js";
import { type DomainResolver, type Lookup, type VetAddresses, createDomainResolver, systemLookup } from "../domains/resolve.js";
import { dialAddressOf } from "../domains/nsm-url.js";
import { type ClientPool, createClientPool } from "../transport/grpc/client-pool.js";
import { type DestinationGuard, createDestinationGuard } from "./destination-guard.js";
import { createGuardedUpstream } from "./guarded-upstream.js";
import { parseDialRules } from "./dial-rules.js";

export interface Dialing {
  readonly dns: DnsClient;
  readonly guard: DestinationGuard;
  /** Domain resolution whose names are vetted by the guard. */
  readonly resolver: DomainResolver;
  readonly vet: VetAddresses;
  readonly checkDestination: (address: string) => Promise<void>;
  /** A new guarded Upstream over `pool` (default: a plaintext client pool of its own). */
  upstream(pool?: ClientPool): Upstream;
}

/** `lookup` replaces name resolution (tests); by default the system's, or PNSMGR_DNS_SERVER through the cache. */
export function createDialing(config: Config, log: Logger, lookupOverride?: Lookup): Dialing {
  // One DNS client with a cache for the whole gateway: SRV lookups, and names the guard resolves.
  const dns = createDnsCache(nodeDnsClient({ dnsServer: config.dnsServer }), { srvTtlMs: config.dnsCacheTtlMs, maxTtlMs: config.dnsCacheTtlMs });
  const lookup = lookupOverride ?? (config.dnsServer === undefined ? systemLookup : lookupVia(dns));
  const guard = createDestinationGuard({
    allow: parseDialRules((config.dialAllow ?? []).join(",")),
    deny: parseDialRules((config.dialDeny ?? []).join(",")),
    resolveHost: createDomainResolver(lookup).resolveAll,
    log,
  });
  const configured = [config.nsmrsAddress, config.localRegistryAddress, config.registryUrl === undefined ? undefined : dialAddressOf(config.registryUrl, "NSM_REGISTRY_URL")];
  return {
    dns,
    guard,
    resolver: createDomainResolver(lookup, guard.checkResolved),
    vet: guard.checkResolved,
    checkDestination: async address => void (await guard.check(address)),
    upstream: (pool = createClientPool({ maxMessageBytes: config.maxMessageBytes })) => createGuardedUpstream(pool, guard, configured),
  };
}
