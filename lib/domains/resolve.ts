/**
 * Domain resolution: "domain" -> an address to dial. An IP literal is used as it is; "host:port" (an
 * improvement on the seed, which allowed no port) is an explicit address; any other name is looked
 * up (A/AAAA), every address it has is shown to `vet` (the destination guard, which refuses the name
 * when any of them is refused) and the first one is taken. Hosts are read strictly (strict-host.ts:
 * `127.1` or `0x7f000001` is INVALID_ARGUMENT, never handed to getaddrinfo). Lookup failures become
 * NOT_FOUND (no such name) or UNAVAILABLE (resolver trouble), with the domain in the message.
 */
import { lookup as dnsLookup } from "node:dns/promises";
import { Code, ProxyError, quoted } from "../pipeline/errors.js";
import { formatHostPort, parseHostPort } from "./address.js";
import { parseStrictHost } from "./strict-host.js";

/** The addresses of a host name (one or all). */
export type Lookup = (hostname: string) => Promise<string | readonly string[]>;

export const systemLookup: Lookup = async hostname => (await dnsLookup(hostname, { all: true })).map(a => a.address);

/** Checks every address a name resolved to before one is used; throws to refuse. */
export type VetAddresses = (name: string, port: number, ips: readonly string[]) => void;

export interface DomainResolver {
  /** The address of `domain`'s peer at `defaultPort` (unless the domain names its own port). */
  resolve(domain: string, defaultPort: number): Promise<string>;
  /** The IP of a host name or literal (the first address). */
  resolveHost(host: string): Promise<string>;
  /** Every address of a host name or literal. */
  resolveAll(host: string): Promise<string[]>;
}

export function createDomainResolver(lookup: Lookup = systemLookup, vet?: VetAddresses): DomainResolver {
  async function resolveAll(host: string): Promise<string[]> {
    const parsed = parseStrictHost(host, `domain ${quoted(host)}`);
    if (parsed.kind === "ip") return [parsed.ip];
    try {
      const answer = await lookup(parsed.name);
      const ips = typeof answer === "string" ? [answer] : [...answer];
      if (ips.length === 0) throw Object.assign(new Error("no addresses"), { code: "ENODATA" });
      return ips;
    } catch (error: unknown) {
      const code = (error as { code?: string }).code;
      if (code === "ENOTFOUND" || code === "ENODATA") {
        throw new ProxyError(Code.NOT_FOUND, `domain ${quoted(host)} does not resolve (${code})`, { cause: error });
      }
      throw new ProxyError(Code.UNAVAILABLE, `domain ${quoted(host)} could not be resolved: ${String((error as Error).message ?? error)}`, { cause: error });
    }
  }
  async function resolveAt(host: string, port: number): Promise<string> {
    const ips = await resolveAll(host);
    if (vet && parseStrictHost(host, `domain "${host}"`).kind === "name") vet(host, port, ips);
    return formatHostPort(ips[0] ?? "", port);
  }
  return {
    resolveAll,
    resolveHost: async host => (await resolveAll(host))[0] ?? "",
    async resolve(domain, defaultPort) {
      const hasPort = /^\[.+\]:\d+$/.test(domain) || /^[^:]+:\d+$/.test(domain);
      if (hasPort) {
        const { host, port } = parseHostPort(domain, "domain");
        return resolveAt(host, port);
      }
      return resolveAt(domain, defaultPort);
    },
  };
}
