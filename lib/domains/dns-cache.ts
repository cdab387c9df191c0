/**
 * DNS answers kept for their TTL, as NSM's dnsresolve relies on: a v1 Request or Find through the
 * proxy would otherwise ask DNS for the same SRV and A/AAAA records several times per call. A/AAAA
 * answers are kept for the TTL the server gave (node:dns `{ttl: true}`), at most `maxTtlMs`; SRV
 * answers for `srvTtlMs` (also at most `maxTtlMs`), because node:dns's resolveSrv does not report the
 * TTL. Concurrent
 * questions for the same name share one query. Failures are not kept. `maxTtlMs` 0 turns caching off.
 */
import { Resolver } from "node:dns/promises";
import type { SrvRecord } from "node:dns";

/** The DNS queries the proxy needs; plain answers. */
export interface DnsClient {
  resolveSrv(name: string): Promise<SrvRecord[]>;
  resolve4(name: string): Promise<string[]>;
  resolve6(name: string): Promise<string[]>;
  /** Ends queries in flight (ECANCELLED). */
  cancel(): void;
}

/** What the cache asks: A/AAAA with their TTLs (seconds). */
export interface TtlDnsClient {
  resolveSrv(name: string): Promise<SrvRecord[]>;
  resolve4(name: string): Promise<{ address: string; ttl: number }[]>;
  resolve6(name: string): Promise<{ address: string; ttl: number }[]>;
  cancel(): void;
}

export interface DnsCacheOptions {
  /** How long an SRV answer is kept (node:dns reports no SRV TTL). */
  srvTtlMs: number;
  /** Ceiling on an A/AAAA answer's TTL; 0: nothing is cached. */
  maxTtlMs: number;
  maxEntries?: number;
  now?: () => number;
}

interface Entry {
  expires: number;
  answer: Promise<unknown>;
}

export function createDnsCache(inner: TtlDnsClient, options: DnsCacheOptions): DnsClient {
  const now = options.now ?? Date.now;
  const maxEntries = options.maxEntries ?? 4096;
  const entries = new Map<string, Entry>();

  function cached<T>(key: string, ask: () => Promise<{ value: T; ttlMs: number }>): Promise<T> {
    const hit = entries.get(key);
    if (hit && hit.expires > now()) return hit.answer as Promise<T>;
    entries.delete(key);
    const asked = ask();
    const answer = asked.then(r => r.value);
    // In flight: shared until it settles; then kept for its TTL (or dropped on failure / TTL 0).
    const entry: Entry = { expires: Number.POSITIVE_INFINITY, answer };
    entries.set(key, entry);
    if (entries.size > maxEntries) entries.delete(entries.keys().next().value as string);
    asked.then(
      ({ ttlMs }) => {
        const keep = Math.min(ttlMs, options.maxTtlMs);
        if (keep > 0 && entries.get(key) === entry) entry.expires = now() + keep;
        else if (entries.get(key) === entry) entries.delete(key);
      },
      () => {
        if (entries.get(key) === entry) entries.delete(key);
      },
    );
    return answer;
  }

  const addresses = (answers: { address: string; ttl: number }[]) => ({
    value: answers.map(a => a.address),
    ttlMs: answers.length === 0 ? 0 : Math.min(...answers.map(a => a.ttl)) * 1000,
  });

  return {
    resolveSrv: name => cached(`SRV ${name.toLowerCase()}`, async () => ({ value: await inner.resolveSrv(name), ttlMs: options.srvTtlMs })),
    resolve4: name => cached(`A ${name.toLowerCase()}`, async () => addresses(await inner.resolve4(name))),
    resolve6: name => cached(`AAAA ${name.toLowerCase()}`, async () => addresses(await inner.resolve6(name))),
    cancel() {
      entries.clear();
      inner.cancel();
    },
  };
}

/** node:dns at `dnsServer` (ip:port), or the system's servers. */
export function nodeDnsClient(options: { dnsServer?: string | undefined; timeoutMs?: number; tries?: number }): TtlDnsClient {
  const resolver = new Resolver({ timeout: options.timeoutMs ?? 2000, tries: options.tries ?? 2 });
  if (options.dnsServer) {
    try {
      resolver.setServers([options.dnsServer]);
    } catch (error: unknown) {
      throw new Error(`DNS server "${options.dnsServer}" must be an IP address with an optional port (e.g. 10.96.0.10:53): ${(error as Error).message}`);
    }
  }
  return {
    resolveSrv: name => resolver.resolveSrv(name),
    resolve4: name => resolver.resolve4(name, { ttl: true }),
    resolve6: name => resolver.resolve6(name, { ttl: true }),
    cancel: () => resolver.cancel(),
  };
}

/** Every A and AAAA address of a name through `dns` (the guard's resolution when PNSMGR_DNS_SERVER is set). */
export function lookupVia(dns: DnsClient): (name: string) => Promise<string[]> {
  const orNone = (answer: Promise<string[]>) => answer.catch((error: unknown) => (NO_ADDRESS.has((error as { code?: string }).code ?? "") ? [] : Promise.reject(error)));
  return async name => {
    const [v4, v6] = await Promise.all([orNone(dns.resolve4(name)), orNone(dns.resolve6(name))]);
    const all = [...v4, ...v6];
    if (all.length === 0) throw Object.assign(new Error(`${name} has no A or AAAA record`), { code: "ENOTFOUND" });
    return all;
  };
}

const NO_ADDRESS = new Set(["ENOTFOUND", "ENODATA"]);
