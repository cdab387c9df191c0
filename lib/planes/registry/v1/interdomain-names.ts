/**
 * How v1 registry entries carry a domain (pkg/tools/interdomain and dnsresolve's translateNSE):
 * an NS is `ns@domain`; an NSE names its domain in its name or in any of its network service names
 * (the name first). Going to the domain the suffixes are stripped from the name, the service names and
 * the network_service_labels keys; coming back they are appended again. Helpers, not an element; they
 * never edit their input.
 */
import { invalidArgument, quoted } from "../../../pipeline/errors.js";
import { isInterdomain, splitInterdomain, targetOf } from "../../../domains/names.js";
import type { NetworkService, NetworkServiceEndpoint, NetworkServiceLabels } from "../../../../generated/nsm/registry.js";

/** The domain of an NS name; undefined for a plain name. A malformed `ns@` / `@d` is INVALID_ARGUMENT. */
export function domainOfName(name: string, what: string): string | undefined {
  return isInterdomain(name) ? splitInterdomain(name, what).domain : undefined;
}

export function domainOfNs(ns: NetworkService): string | undefined {
  return domainOfName(ns.name, "network service name");
}

/**
 * The domain of an NSE or NSE query: from the name, else from the network service names. Names that
 * point at different domains are INVALID_ARGUMENT (the Go SDK silently took the first one).
 */
export function domainOfNse(nse: NetworkServiceEndpoint): string | undefined {
  const named: [string, string][] = [[nse.name, "network service endpoint name"], ...nse.networkServiceNames.map((n): [string, string] => [n, "network service name"])];
  let found: string | undefined;
  for (const [name, what] of named) {
    const domain = domainOfName(name, what);
    if (domain === undefined) continue;
    if (found !== undefined && domain !== found) {
      throw invalidArgument(`network service endpoint ${quoted(nse.name)} names two domains (${quoted(found)} and ${quoted(domain)})`);
    }
    found = domain;
  }
  return found;
}

const suffixed = (name: string, domain: string) => (name === "" ? name : `${name}@${domain}`);

function mapLabelKeys(labels: Readonly<Record<string, NetworkServiceLabels>>, rename: (key: string) => string): Record<string, NetworkServiceLabels> {
  return Object.fromEntries(Object.entries(labels).map(([key, value]) => [rename(key), value]));
}

function renameNse(nse: NetworkServiceEndpoint, rename: (name: string) => string): NetworkServiceEndpoint {
  return {
    ...nse,
    name: rename(nse.name),
    networkServiceNames: nse.networkServiceNames.map(rename),
    networkServiceLabels: mapLabelKeys(nse.networkServiceLabels, rename),
  };
}

/** `nse@d` -> `nse`, `ns@d` -> `ns` in the name, the service names and the label keys. */
export function stripNse(nse: NetworkServiceEndpoint): NetworkServiceEndpoint {
  return renameNse(nse, targetOf);
}

/** The way back: every non-empty name gains `@domain`. */
export function suffixNse(nse: NetworkServiceEndpoint, domain: string): NetworkServiceEndpoint {
  return renameNse(nse, name => suffixed(name, domain));
}

export function stripNs(ns: NetworkService): NetworkService {
  return { ...ns, name: targetOf(ns.name) };
}

export function suffixNs(ns: NetworkService, domain: string): NetworkService {
  return { ...ns, name: suffixed(ns.name, domain) };
}
