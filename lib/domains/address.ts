/**
 * host:port addresses, IPv6 included ("[::1]:5001"). The seed split at the first ':' and broke on
 * IPv6; here a v6 host must be bracketed and is printed bracketed.
 */
import { isIP } from "node:net";
import { invalidArgument, quoted } from "../pipeline/errors.js";

export interface HostPort {
  /** Host without brackets; "" for a listen address such as ":5006". */
  readonly host: string;
  readonly port: number;
}

/** `listen` allows port 0 (any free port), which a dial address never has. */
export function parseHostPort(text: string, what = "address", listen = false): HostPort {
  const bracketed = /^\[([^\]]+)\]:(\d+)$/.exec(text);
  const plain = /^([^:[\]]*):(\d+)$/.exec(text);
  const match = bracketed ?? plain;
  if (!match) {
    if (isIP(text) === 6) throw invalidArgument(`${what} ${quoted(text)}: an IPv6 address needs brackets and a port, e.g. [${text}]:5001`);
    throw invalidArgument(`${what} ${quoted(text)} is not host:port`);
  }
  const host = match[1] ?? "";
  if (bracketed && isIP(host) !== 6) throw invalidArgument(`${what} ${quoted(text)}: only an IPv6 address goes in brackets`);
  const port = listen && match[2] === "0" ? 0 : parsePort(match[2] ?? "", `${what} ${quoted(text)}`);
  return { host, port };
}

/**
 * A unix socket address in grpc-js' form `unix:///abs/path`, from `unix:///abs/path` or `unix:/abs/path`
 * (and a bare `/abs/path` when `bare`, as SPIFFE_ENDPOINT_SOCKET may be written); undefined when it
 * names no absolute path.
 */
export function unixAddress(text: string, bare = false): string | undefined {
  const path = text.startsWith("unix://") ? text.slice("unix://".length) : text.startsWith("unix:") ? text.slice("unix:".length) : bare ? text : undefined;
  return path !== undefined && path.startsWith("/") && path.length > 1 ? `unix://${path}` : undefined;
}

export function parsePort(text: string, what: string): number {
  const port = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(port >= 1 && port <= 65535)) throw invalidArgument(`${what}: port ${quoted(text)} is not in 1-65535`);
  return port;
}

export function formatHostPort(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The host part of an address, brackets removed; the whole text when it has no port. */
export function hostOf(address: string): string {
  try {
    return parseHostPort(address).host;
  } catch {
    return address.replace(/^\[(.*)\]$/, "$1");
  }
}

/** Same address with another host, keeping the port: "10.0.0.1:5001" -> "203.0.113.7:5001". */
export function withHost(address: string, host: string): string {
  return formatHostPort(host, parseHostPort(address).port);
}

/** A listen address as grpc-js binds it: ":5006" listens on every IPv4 interface; port 0 picks a free port. */
export function bindAddress(listen: string): string {
  const { host, port } = parseHostPort(listen, "listen address", true);
  return formatHostPort(host === "" ? "0.0.0.0" : host, port);
}
