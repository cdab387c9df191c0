/**
 * Domain resolution: "domain" -> an address to dial. An IP literal is used as it is; "host:port" (an
 * improvement on the seed, which allowed no port) is an explicit address; any other name is looked
 * up once (A/AAAA) and the first address taken. Lookup failures become NOT_FOUND (no such name) or
 * UNAVAILABLE (resolver trouble), with the domain in the message.
 */
import { lookup as dnsLookup } from "node:dns/promises";
import { isIP } from "node:net";
import { Code, ProxyError, invalidArgument, quoted } from "../pipeline/errors.js";
import { formatHostPort, parseHostPort } from "./address.js";

export type Lookup = (hostname: string) => Promise<string>;

export const systemLookup: Lookup = async hostname => (await dnsLookup(hostname)).address;

export interface DomainResolver {
  /** The address of `domain`'s peer at `defaultPort` (unless the domain names its own port). */
  resolve(domain: string, defaultPort: number): Promise<string>;
  /** The IP of a host name or literal. */
  resolveHost(host: string): Promise<string>;
}

const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62}))*\.?$/;

export function createDomainResolver(lookup: Lookup = systemLookup): DomainResolver {
  async function resolveHost(host: string): Promise<string> {
    const bare = host.replace(/^\[(.*)\]$/, "$1");
    if (isIP(bare)) return bare;
    if (!HOSTNAME.test(bare)) throw invalidArgument(`domain ${quoted(host)} is not a host name or IP address`);
    try {
      return await lookup(bare);
    } catch (error: unknown) {
      const code = (error as { code?: string }).code;
      if (code === "ENOTFOUND" || code === "ENODATA") {
        throw new ProxyError(Code.NOT_FOUND, `domain ${quoted(host)} does not resolve (${code})`, { cause: error });
      }
      throw new ProxyError(Code.UNAVAILABLE, `domain ${quoted(host)} could not be resolved: ${String((error as Error).message ?? error)}`, { cause: error });
    }
  }
  return {
    resolveHost,
    async resolve(domain, defaultPort) {
      const hasPort = /^\[.+\]:\d+$/.test(domain) || /^[^:]+:\d+$/.test(domain);
      if (hasPort) {
        const { host, port } = parseHostPort(domain, "domain");
        return formatHostPort(await resolveHost(host), port);
      }
      return formatHostPort(await resolveHost(domain), defaultPort);
    },
  };
}
