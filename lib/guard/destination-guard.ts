/**
 * The destination guard: every address that came from a caller or a registry passes here before it
 * is dialled. The host is read strictly (strict-host.ts: non-canonical IPv4 is INVALID_ARGUMENT), a
 * name is resolved, EVERY address it resolves to is checked, and the answer is a Destination pinned to
 * a checked IP, which the client pool dials as it is (no second resolution: DNS rebinding cannot move
 * the call elsewhere). A refusal is PERMISSION_DENIED naming the destination and the rule; it is
 * logged and counted.
 *
 * Order of the checks for each address: this gateway's own listeners (always refused), the operator's
 * deny rules, the allowlist (when set, a destination must match one of its rules: a name rule by the
 * name asked for, a CIDR rule by the address), then the default deny (loopback, link-local,
 * unspecified, multicast, broadcast, and their IPv4-mapped and NAT64 forms), which only an allow rule
 * naming a CIDR or IP that covers the address lifts: a name on the allowlist that resolves to
 * 169.254.169.254 is still refused.
 *
 * Operator-configured addresses (NSM_REGISTRY_URL, NSMRS_ADDRESS, PNSMGR_LOCAL_REGISTRY) are trusted:
 * parsed, then dialled as written (`trustedDestination`).
 */
import { networkInterfaces } from "node:os";
import ipaddr from "ipaddr.js";
import { Code, ProxyError, invalidArgument } from "../pipeline/errors.js";
import type { Destination } from "../pipeline/upstream.js";
import type { Logger } from "../log.js";
import { formatHostPort, parseHostPort } from "../domains/address.js";
import { parseStrictHost } from "../domains/strict-host.js";
import { type DialRule, type Ip, normalizeIp } from "./dial-rules.js";

export interface DestinationGuardOptions {
  /** PNSMGR_DIAL_ALLOW: when not empty, the only destinations allowed. */
  readonly allow?: readonly DialRule[];
  /** PNSMGR_DIAL_DENY: refused before anything else is considered. */
  readonly deny?: readonly DialRule[];
  /** Every address of a DNS name (A and AAAA). */
  readonly resolveHost: (name: string) => Promise<readonly string[]>;
  readonly log: Logger;
  /** Addresses of this host's interfaces (os.networkInterfaces by default). */
  readonly localAddresses?: () => readonly string[];
  /** A refusal is logged at most once per rule in this window, with the count in between (10 s). */
  readonly logWindowMs?: number;
  readonly now?: () => number;
}

export interface GuardDecision {
  readonly allowed: boolean;
  /** The rule that refused it, or "allowed". */
  readonly rule: string;
}

export interface DestinationGuard {
  /** host:port from a caller or a registry: checked, resolved, pinned. Rejects with ProxyError. */
  check(address: string): Promise<Destination>;
  /** Checks addresses some other resolution produced for `name` (SRV targets); throws PERMISSION_DENIED. */
  checkResolved(name: string, port: number, ips: readonly string[]): void;
  /** The decision for one IP and port, without counting or logging (tests and diagnostics). */
  decide(ip: string, port: number, name?: string): GuardDecision;
  /** This gateway's listeners: its bound ports (on any local address) and the URLs it is reached at. */
  setOwnListeners(ports: readonly number[], publicAddresses: readonly string[]): void;
  /** Refusals so far (PERMISSION_DENIED and INVALID_ARGUMENT), in total and by rule. */
  refusals(): { readonly total: number; readonly byRule: ReadonlyMap<string, number> };
}

export function createDestinationGuard(options: DestinationGuardOptions): DestinationGuard {
  const allow = options.allow ?? [];
  const deny = options.deny ?? [];
  const localAddresses = options.localAddresses ?? interfaceAddresses;
  let ownPorts = new Set<number>();
  let ownAddresses = new Set<string>();
  let publicAddresses = new Set<string>();
  const { refuse, refusals } = refusalCounter(options);
  // IP-literal addresses already allowed, as written: their decision depends only on the rules and this
  // gateway's listeners (which reset it), not on DNS, so the hot path does not parse and check them
  // again on every call to the same peer. Refusals are not kept: each is counted and logged.
  let allowedIps = new Map<string, Destination>();

  function decideIp(ip: Ip, port: number, name: string | undefined): string | undefined {
    if (ownPorts.has(port) && (isLoopbackOrUnspecified(ip) || ownAddresses.has(ip.toString()))) return "own listener";
    for (const rule of deny) if (rule.matchesIp(ip, port) || (name !== undefined && rule.matchesName(name, port))) return `deny "${rule.text}"`;
    if (allow.length > 0 && !allow.some(rule => rule.matchesIp(ip, port) || (name !== undefined && rule.matchesName(name, port)))) return "not in the allowlist";
    const lifted = allow.some(rule => rule.cidr && rule.matchesIp(ip, port));
    const denied = defaultDeny(ip);
    if (denied !== undefined && !lifted) return `default deny: ${denied}`;
    return undefined;
  }

  function refusedAddress(written: string, name: string | undefined, port: number, ips: readonly string[]): ProxyError | undefined {
    for (const text of ips) {
      const ip = normalizeIp(text);
      const rule = decideIp(ip, port, name);
      if (rule !== undefined) {
        const via = name === undefined ? "" : ` (${name} resolves to ${ip.toString()})`;
        return refuse(Code.PERMISSION_DENIED, written, rule, `dial to "${written}" refused${via}: rule ${rule}`);
      }
    }
    return undefined;
  }

  return {
    async check(address) {
      const known = allowedIps.get(address);
      if (known !== undefined) return known;
      let host: string;
      let port: number;
      let parsed: ReturnType<typeof parseStrictHost>;
      try {
        ({ host, port } = parseHostPort(address, "destination"));
        parsed = parseStrictHost(host, `destination "${address}"`);
      } catch (error: unknown) {
        throw refuse(Code.INVALID_ARGUMENT, address, "parse", ProxyError.from(error, Code.INVALID_ARGUMENT).message);
      }
      const spelled = parsed.kind === "ip" ? `${normalizeIp(parsed.ip).toString()}:${port}` : `${parsed.name}:${port}`;
      if (publicAddresses.has(`${host.toLowerCase()}:${port}`) || publicAddresses.has(spelled)) throw refuse(Code.PERMISSION_DENIED, address, "own listener", `dial to "${address}" refused: rule own listener (this gateway's public address)`);
      if (parsed.kind === "ip") {
        const refused = refusedAddress(address, undefined, port, [parsed.ip]);
        if (refused) throw refused;
        const destination = pinned(formatHostPort(parsed.ip, port), address);
        if (allowedIps.size >= MAX_REMEMBERED_IPS) allowedIps.clear();
        allowedIps.set(address, destination);
        return destination;
      }
      const named = deny.find(rule => rule.matchesName(parsed.name, port));
      if (named) throw refuse(Code.PERMISSION_DENIED, address, `deny "${named.text}"`, `dial to "${address}" refused: rule deny "${named.text}"`);
      const ips = await options.resolveHost(parsed.name);
      if (ips.length === 0) throw new ProxyError(Code.NOT_FOUND, `destination "${address}": ${parsed.name} has no address`);
      const refused = refusedAddress(address, parsed.name, port, ips);
      if (refused) throw refused;
      return pinned(formatHostPort(normalizeIp(ips[0] ?? "").toString(), port), address);
    },
    checkResolved(name, port, ips) {
      const refused = refusedAddress(formatHostPort(name, port), name, port, ips);
      if (refused) throw refused;
    },
    decide(ip, port, name) {
      const rule = decideIp(normalizeIp(ip), port, name);
      return rule === undefined ? { allowed: true, rule: "allowed" } : { allowed: false, rule };
    },
    setOwnListeners(ports, addresses) {
      allowedIps = new Map();
      ownPorts = new Set(ports.filter(p => p > 0));
      ownAddresses = new Set(localAddresses().flatMap(a => (ipaddr.isValid(a) ? [normalizeIp(a).toString()] : [])));
      publicAddresses = spellingsOf(addresses);
    },
    refusals,
  };
}

interface RefusalCounter extends Pick<DestinationGuard, "refusals"> {
  /** Counts and logs a refusal; returns the error to throw. */
  refuse(code: Code, address: string, rule: string, message: string): ProxyError;
}

/** Counts refusals by rule and logs them, each rule at most once per window with the count in between. */
function refusalCounter(options: DestinationGuardOptions): RefusalCounter {
  const byRule = new Map<string, number>();
  let total = 0;
  const now = options.now ?? Date.now;
  const logged = new Map<string, { at: number; suppressed: number }>();
  function refuse(code: Code, address: string, rule: string, message: string): ProxyError {
    total += 1;
    byRule.set(rule, (byRule.get(rule) ?? 0) + 1);
    // A hostile caller must not be able to flood the log: once per rule per window, with a count.
    const last = logged.get(rule);
    if (last && now() - last.at < (options.logWindowMs ?? 10_000)) last.suppressed += 1;
    else {
      options.log.warn("dial refused", { destination: address, rule, ...(last?.suppressed ? { suppressed: last.suppressed } : {}) });
      if (logged.size > 1000) logged.clear();
      logged.set(rule, { at: now(), suppressed: 0 });
    }
    return new ProxyError(code, message);
  }
  return { refuse, refusals: () => ({ total, byRule: new Map(byRule) }) };
}

/** The host:port spellings of this gateway's public addresses (host lower-cased; an IP also normalised). */
function spellingsOf(addresses: readonly string[]): Set<string> {
  const spellings = new Set<string>();
  for (const written of addresses) {
    try {
      const { host, port } = parseHostPort(written, "public address");
      spellings.add(`${host.toLowerCase()}:${port}`);
      if (ipaddr.isValid(host)) spellings.add(`${normalizeIp(host).toString()}:${port}`);
    } catch {
      // a public address without a port cannot be dialled back to us by this spelling
    }
  }
  return spellings;
}

/** An operator's configured address (or `unix:` path): parsed, dialled as written, not subject to the rules. */
export function trustedDestination(address: string): Destination {
  if (address.startsWith("unix:")) return { address, authority: "localhost" } as Destination;
  const { host } = parseHostPort(address, "configured address");
  if (host === "") throw invalidArgument(`configured address "${address}" has no host`);
  parseStrictHost(host, `configured address "${address}"`);
  return { address, authority: address } as Destination;
}

function pinned(address: string, authority: string): Destination {
  return { address, authority } as Destination;
}

/**
 * The default-deny range an address falls in, or undefined. IPv4 carried inside IPv6 is checked as
 * IPv4: NAT64 (64:ff9b::/96), 6to4 (2002::/16) and the deprecated IPv4-compatible ::a.b.c.d
 * (IPv4-mapped is turned into IPv4 before this, by normalizeIp).
 */
export function defaultDeny(ip: Ip): string | undefined {
  if (ip instanceof ipaddr.IPv4) {
    const range = ip.range();
    return V4_DENIED[range] === undefined ? undefined : `${range} ${V4_DENIED[range]}`;
  }
  const v6 = ip as ipaddr.IPv6;
  const range = v6.range();
  const denied = V6_DENIED[range];
  if (denied !== undefined) return `${range} ${denied}`;
  const bytes = v6.toByteArray();
  const carried: [string, number[]] | undefined =
    range === "rfc6052" ? ["NAT64 form (64:ff9b::/96)", bytes.slice(12)]
    : range === "6to4" ? ["6to4 form (2002::/16)", bytes.slice(2, 6)]
    : bytes.slice(0, 12).every(b => b === 0) ? ["IPv4-compatible form (::a.b.c.d)", bytes.slice(12)]
    : undefined;
  if (carried === undefined) return undefined;
  const embedded = new ipaddr.IPv4(carried[1]);
  const inner = defaultDeny(embedded);
  return inner === undefined ? undefined : `${carried[0]} of ${embedded.toString()}, ${inner}`;
}

/** Bound of the allowed IP-literal addresses remembered (cleared at once when full). */
const MAX_REMEMBERED_IPS = 4096;

const V4_DENIED: Readonly<Record<string, string>> = {
  unspecified: "0.0.0.0/8",
  broadcast: "255.255.255.255/32",
  multicast: "224.0.0.0/4",
  linkLocal: "169.254.0.0/16",
  loopback: "127.0.0.0/8",
};
const V6_DENIED: Readonly<Record<string, string>> = {
  unspecified: "::/128",
  linkLocal: "fe80::/10",
  multicast: "ff00::/8",
  loopback: "::1/128",
};

function isLoopbackOrUnspecified(ip: Ip): boolean {
  const range = ip.range();
  return range === "loopback" || range === "unspecified";
}

function interfaceAddresses(): string[] {
  return Object.values(networkInterfaces()).flatMap(list => (list ?? []).map(i => i.address.replace(/%.*$/, "")));
}
