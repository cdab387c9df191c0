/**
 * The interdomain name grammar. "service@domain" names a network service in another domain and
 * "nsmName@host:port" names an NSMgr reached through the proxy. Both split at the FIRST '@' (as NSM
 * does, v0 ParseNsmURL and v1 interdomain.Domain/Target alike).
 */
import { invalidArgument, quoted } from "../pipeline/errors.js";
import { type HostPort, parseHostPort } from "./address.js";
import { parseStrictHost } from "./strict-host.js";

export interface Interdomain {
  /** Text before the first '@': the name in the remote domain. */
  readonly target: string;
  /** Text after the first '@'. */
  readonly domain: string;
}

export function isInterdomain(name: string): boolean {
  return name.includes("@");
}

export function splitInterdomain(name: string, what = "name"): Interdomain {
  const at = name.indexOf("@");
  if (at < 0) throw invalidArgument(`${what} ${quoted(name)} has no "@": expected name@domain`);
  const target = name.slice(0, at);
  const domain = name.slice(at + 1);
  if (target === "") throw invalidArgument(`${what} ${quoted(name)} has nothing before "@"`);
  if (domain === "") throw invalidArgument(`${what} ${quoted(name)} has nothing after "@"`);
  return { target, domain };
}

/** The target part of a name, or the name itself when it has no '@'. */
export function targetOf(name: string): string {
  const at = name.indexOf("@");
  return at < 0 ? name : name.slice(0, at);
}

export interface NsmUrl extends HostPort {
  readonly name: string;
  /** host:port as written, IPv6 bracketed. */
  readonly address: string;
}

/** "nsmName@host:port" -> the NSMgr's name and address; the host is read strictly (strict-host.ts). */
export function parseNsmUrl(text: string, what = "NSMgr name"): NsmUrl {
  const { target, domain } = splitInterdomain(text, what);
  const { host, port } = parseHostPort(domain, `${what} ${quoted(text)}`);
  if (host === "") throw invalidArgument(`${what} ${quoted(text)} has no host before the port`);
  parseStrictHost(host, `${what} ${quoted(text)}`);
  return { name: target, address: domain, host, port };
}
