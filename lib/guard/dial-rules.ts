/**
 * The operator's destination rules (PNSMGR_DIAL_ALLOW, PNSMGR_DIAL_DENY): a comma list of entries,
 * each a host part with an optional port or port range.
 *
 *   10.0.0.0/8   192.0.2.7   [fd00::/8]:5004   ::1   *.domain2.example:5001-5010   registry.example   *:443
 *
 * A host part is a CIDR, an IP (a /32 or /128), a DNS name (exactly that name), `*.suffix` (names
 * under suffix) or `*` (every host). Names match the name the caller gave, CIDRs every address it
 * resolves to. Written addresses must be canonical (strict-host.ts).
 */
import ipaddr from "ipaddr.js";
import { parseStrictHost } from "../domains/strict-host.js";

export type Ip = ipaddr.IPv4 | ipaddr.IPv6;

export interface DialRule {
  /** The entry as written, for messages. */
  readonly text: string;
  /** A CIDR or IP rule: an allow rule of this kind lifts the default deny for the addresses it covers. */
  readonly cidr: boolean;
  matchesIp(ip: Ip, port: number): boolean;
  matchesName(name: string, port: number): boolean;
}

/** Parses a comma list; throws Error naming the bad entry. */
export function parseDialRules(list: string): DialRule[] {
  return list
    .split(",")
    .map(entry => entry.trim())
    .filter(entry => entry !== "")
    .map(parseDialRule);
}

export function parseDialRule(text: string): DialRule {
  const { host, ports } = splitPort(text);
  const portOk = (port: number) => ports === undefined || (port >= ports[0] && port <= ports[1]);
  if (host === "*") return { text, cidr: false, matchesIp: (_, port) => portOk(port), matchesName: (_, port) => portOk(port) };
  if (host.includes("/")) {
    const [address = "", bits = ""] = host.split("/");
    const parsed = parseStrictHost(address, `dial rule "${text}"`);
    if (parsed.kind !== "ip" || !/^\d{1,3}$/.test(bits)) throw new Error(`dial rule "${text}": expected address/prefix-length, e.g. 10.0.0.0/8`);
    const range = ipaddr.parseCIDR(`${parsed.ip}/${bits}`);
    return cidrRule(text, range, portOk);
  }
  if (host.startsWith("*.")) {
    const suffix = parseStrictHost(host.slice(2), `dial rule "${text}"`);
    if (suffix.kind !== "name") throw new Error(`dial rule "${text}": "*." goes before a DNS name`);
    const under = `.${suffix.name}`;
    return { text, cidr: false, matchesIp: () => false, matchesName: (name, port) => portOk(port) && name.endsWith(under) };
  }
  const parsed = parseStrictHost(host, `dial rule "${text}"`);
  if (parsed.kind === "ip") {
    const ip = normalizeIp(parsed.ip);
    return cidrRule(text, [ip, ip.kind() === "ipv4" ? 32 : 128], portOk);
  }
  return { text, cidr: false, matchesIp: () => false, matchesName: (name, port) => portOk(port) && name === parsed.name };
}

function splitPort(text: string): { host: string; ports: [number, number] | undefined } {
  const bracketed = /^\[([^\]]+)\](?::(.+))?$/.exec(text);
  const bareIpv6 = (text.match(/:/g)?.length ?? 0) > 1;
  const plain = bracketed || bareIpv6 ? undefined : /^([^:]+)(?::(.+))?$/.exec(text);
  const host = bracketed?.[1] ?? plain?.[1] ?? text; // a bare IPv6 (CIDR) has no port
  const portText = bracketed?.[2] ?? plain?.[2];
  if (portText === undefined) return { host, ports: undefined };
  const range = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(portText);
  const low = Number(range?.[1]);
  const high = Number(range?.[2] ?? range?.[1]);
  if (!range || !(low >= 1 && high <= 65535 && low <= high)) throw new Error(`dial rule "${text}": port "${portText}" is not a port or range in 1-65535`);
  return { host, ports: [low, high] };
}

function cidrRule(text: string, [network, bits]: [Ip, number], portOk: (port: number) => boolean): DialRule {
  return {
    text,
    cidr: true,
    matchesIp: (ip, port) => portOk(port) && ip.kind() === network.kind() && ip.match(network, bits),
    matchesName: () => false,
  };
}

/** An IP as the rules see it: IPv4-mapped IPv6 (::ffff:a.b.c.d) is the IPv4 address. */
export function normalizeIp(text: string): Ip {
  const ip = ipaddr.parse(text);
  if (ip instanceof ipaddr.IPv6 && ip.isIPv4MappedAddress()) return ip.toIPv4Address();
  return ip;
}
