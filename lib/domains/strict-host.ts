/**
 * Strict reading of a host that will be dialled or resolved. getaddrinfo and inet_aton accept IPv4
 * spellings no operator writes on purpose (`2852039166`, `0xa9fea9fe`, `0251.0376.0251.0376`,
 * `127.1`), which is how a deny rule on 169.254.169.254 gets walked around; here an address is an IP
 * literal in canonical form (dotted quad without leading zeros, or IPv6 without a zone) or a DNS
 * name whose last label is not a number (the WHATWG URL rule), and anything else is INVALID_ARGUMENT.
 */
import { isIPv4, isIPv6 } from "node:net";
import { invalidArgument } from "../pipeline/errors.js";

export type StrictHost = { readonly kind: "ip"; readonly ip: string } | { readonly kind: "name"; readonly name: string };

const DNS_NAME = /^(?=.{1,253}\.?$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62}))*\.?$/;
/** A last label that inet_aton would read as a number: decimal, octal or hex. */
const NUMERIC_LABEL = /^(?:\d+|0x[0-9a-f]*)$/i;

/** `host` without brackets; `what` names it in the error ("destination \"x:1\""). */
export function parseStrictHost(host: string, what: string): StrictHost {
  const bare = host.replace(/^\[(.*)\]$/, "$1");
  if (bare.includes(":") || bare.includes("%")) {
    if (bare.includes("%")) throw invalidArgument(`${what}: IPv6 zone ids ("${bare}") are not accepted`);
    if (!isIPv6(bare)) throw invalidArgument(`${what}: "${bare}" is not an IPv6 address`);
    return { kind: "ip", ip: bare.toLowerCase() };
  }
  const labels = bare.replace(/\.$/, "").split(".");
  if (NUMERIC_LABEL.test(labels[labels.length - 1] ?? "")) {
    if (!isIPv4(bare)) throw invalidArgument(`${what}: "${bare}" is not a canonical IPv4 address (write it as four decimal parts without leading zeros, e.g. 192.0.2.1)`);
    return { kind: "ip", ip: bare };
  }
  if (!DNS_NAME.test(bare)) throw invalidArgument(`${what}: "${bare}" is neither a DNS name nor an IP address`);
  return { kind: "name", name: bare.replace(/\.$/, "").toLowerCase() };
}
