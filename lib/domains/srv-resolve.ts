/**
 * NSM v1 domain resolution by DNS SRV, as registry-proxy-dns does it but honouring the SRV target
 * (sdk#1518): `<service>.<domain>` (e.g. `registry.nsm-system.cluster2`, no `_svc._proto` prefix) is
 * looked up as SRV; one record is chosen (lowest priority, then RFC 2782 weighted choice); the port
 * is the record's and the IP is the A (then AAAA) answer for the record's TARGET. Only when the target
 * has no address (NXDOMAIN/NODATA) is the SRV name's own A/AAAA tried, which is what the Go SDK always
 * did, so DNS set-ups that worked with the Go proxy keep working.
 *
 * A domain that is an IP literal with a port (`192.0.2.1:5002`, `[2001:db8::1]:5002`) is used as it is
 * and nothing is looked up. Answers are `host:port` (IPv6 bracketed); NSM URLs add `tcp://`.
 *
 * Errors carry the domain: NOT_FOUND when DNS says there is no such record (ENOTFOUND, ENODATA, an SRV
 * target of "."), UNAVAILABLE for resolver trouble (timeouts, SERVFAIL, refused), INVALID_ARGUMENT
 * for a domain that is neither a DNS name nor ip:port. Answers are cached for their TTL (dns-cache.ts);
 * every address of the chosen host is shown to `vet` (the destination guard) before one is used.
 */
import type { SrvRecord } from "node:dns";
import { isIP } from "node:net";
import { Code, ProxyError, invalidArgument, quoted } from "../pipeline/errors.js";
import { formatHostPort, parseHostPort } from "./address.js";
import { type DnsClient, createDnsCache, nodeDnsClient } from "./dns-cache.js";
import type { VetAddresses } from "./resolve.js";
import { parseStrictHost } from "./strict-host.js";

export type { DnsClient };

export interface SrvResolver {
  /** host:port for `<service>.<domain>`, or the domain itself when it is ip:port. */
  resolve(service: string, domain: string): Promise<string>;
  /** Ends lookups in flight. */
  close(): void;
}

export interface SrvResolverOptions {
  /** DNS server host:port (PNSMGR_DNS_SERVER); the system's servers when unset. */
  dnsServer?: string | undefined;
  /** Per-query timeout and attempts of node:dns (c-ares). */
  timeoutMs?: number;
  tries?: number;
  /** Weighted choice among SRV records of equal priority; tests pin it. */
  random?: () => number;
  /** Replaces node:dns and its cache entirely (unit tests). */
  dns?: DnsClient;
  /** How long SRV answers are kept, and the ceiling on A/AAAA TTLs (PNSMGR_DNS_CACHE_TTL); 0: no cache. */
  cacheTtlMs?: number;
  /** Sees every address of the chosen host before one is used (the destination guard). */
  vet?: VetAddresses;
}

const DNS_NAME = /^(?=.{1,253}\.?$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62}))*\.?$/;
const NO_SUCH_RECORD = new Set(["ENOTFOUND", "ENODATA", "NOTFOUND", "NODATA"]);

export function createSrvResolver(options: SrvResolverOptions = {}): SrvResolver {
  const ttl = options.cacheTtlMs ?? 30_000;
  const dns = options.dns ?? createDnsCache(nodeDnsClient(options), { srvTtlMs: ttl, maxTtlMs: ttl });
  const random = options.random ?? Math.random;

  async function addressesOf(host: string): Promise<string[]> {
    if (isIP(host)) return [host];
    try {
      const v4 = await dns.resolve4(host);
      if (v4[0] !== undefined) return v4;
    } catch (error: unknown) {
      if (!isNoSuchRecord(error)) throw error;
    }
    const v6 = await dns.resolve6(host);
    if (v6[0] === undefined) throw Object.assign(new Error(`no address for ${host}`), { code: "ENODATA" });
    return v6;
  }

  return {
    async resolve(service, domain) {
      const literal = ipLiteral(domain);
      if (literal !== undefined) return literal;
      if (isIP(domain)) throw invalidArgument(`domain ${quoted(domain)}: an IP address domain needs a port, e.g. ${formatHostPort(domain, 5002)}`);
      if (!DNS_NAME.test(domain)) throw invalidArgument(`domain ${quoted(domain)} is neither a DNS name nor ip:port`);
      if (parseStrictHost(domain, `domain ${quoted(domain)}`).kind === "ip") throw invalidArgument(`domain ${quoted(domain)}: an IP address domain needs a port`);
      const name = `${service}.${domain}`;
      let record: SrvRecord;
      try {
        const chosen = pickSrv(await dns.resolveSrv(name), random);
        if (chosen === undefined) throw Object.assign(new Error("empty answer"), { code: "ENODATA" });
        record = chosen;
      } catch (error: unknown) {
        throw lookupError(error, domain, `SRV ${name}`);
      }
      const target = record.name.replace(/\.$/, "");
      if (target === "") throw new ProxyError(Code.NOT_FOUND, `domain ${quoted(domain)}: SRV ${name} says the service is not offered (target ".")`);
      let ips: string[];
      let host = target;
      try {
        ips = await addressesOf(target);
      } catch (targetError: unknown) {
        if (!isNoSuchRecord(targetError) || target.toLowerCase() === name.toLowerCase()) throw lookupError(targetError, domain, `A/AAAA ${target} (target of SRV ${name})`);
        try {
          ips = await addressesOf(name);
          host = name;
        } catch {
          throw lookupError(targetError, domain, `A/AAAA ${target} (target of SRV ${name}; ${name} has no address either)`);
        }
      }
      if (!isIP(host)) options.vet?.(host, record.port, ips);
      return formatHostPort(ips[0] ?? "", record.port);
    },
    close: () => dns.cancel(),
  };
}

/** `ip:port` or `[v6]:port` as host:port; undefined for anything else. */
export function ipLiteral(domain: string): string | undefined {
  if (!/^\[[^\]]+\]:\d+$/.test(domain) && !/^[^:[\]]+:\d+$/.test(domain)) return undefined;
  const { host, port } = parseHostPort(domain, "domain");
  if (!isIP(host)) return undefined;
  return formatHostPort(host, port);
}

/**
 * The record to use: the lowest priority wins; among equals a weighted random choice (RFC 2782:
 * weight-0 records first, then the first record whose running weight sum reaches random * total).
 */
export function pickSrv(records: readonly SrvRecord[], random: () => number = Math.random): SrvRecord | undefined {
  if (records.length === 0) return undefined;
  const best = Math.min(...records.map(r => r.priority));
  const group = records.filter(r => r.priority === best).sort((a, b) => (a.weight === 0 ? 0 : 1) - (b.weight === 0 ? 0 : 1));
  const total = group.reduce((sum, r) => sum + r.weight, 0);
  if (total === 0) return group[0];
  const goal = random() * total;
  let sum = 0;
  for (const r of group) {
    sum += r.weight;
    if (sum >= goal && r.weight > 0) return r;
  }
  return group[group.length - 1];
}

function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

function isNoSuchRecord(error: unknown): boolean {
  return NO_SUCH_RECORD.has(codeOf(error) ?? "");
}

function lookupError(error: unknown, domain: string, what: string): ProxyError {
  if (error instanceof ProxyError) return error;
  const code = codeOf(error) ?? "error";
  if (isNoSuchRecord(error)) return new ProxyError(Code.NOT_FOUND, `domain ${quoted(domain)} does not resolve: no ${what} (${code})`, { cause: error });
  const reason = error instanceof Error ? error.message : String(error);
  return new ProxyError(Code.UNAVAILABLE, `domain ${quoted(domain)} could not be resolved: ${what}: ${reason}`, { cause: error });
}
