/**
 * Preloaded (`node --import`) into gateway processes that tests feed hostile input: every outgoing TCP
 * connection to anything but loopback fails at once, and every DNS name but "localhost" is not found,
 * so that no input can make a test dial out of the machine (tests never dial anything but loopback).
 * Each refusal is written to stderr as one line "loopback-only: refused <destination>".
 */
import { createRequire, syncBuiltinESMExports } from "node:module";
import { isIP } from "node:net";

const require = createRequire(import.meta.url);
const net = require("node:net") as typeof import("node:net");
const dns = require("node:dns") as typeof import("node:dns");
const dnsPromises = require("node:dns/promises") as typeof import("node:dns/promises");

const loopback = (host: string) => {
  const bare = host.replace(/^\[(.*)\]$/, "$1");
  return bare === "localhost" || bare === "::1" || /^127\.\d+\.\d+\.\d+$/.test(bare) || /^::ffff:127\./i.test(bare);
};
const refuse = (what: string) => process.stderr.write(`loopback-only: refused ${what.slice(0, 200)}\n`);
const notFound = (name: string) => Object.assign(new Error(`loopback-only: ${name} is not looked up in tests`), { code: "ENOTFOUND", hostname: name });

const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function (this: import("node:net").Socket, ...args: unknown[]) {
  const first = args[0] as { host?: string; path?: string } | number | string | unknown[];
  const options = Array.isArray(first) ? (first[0] as { host?: string; path?: string }) : first;
  const host = typeof options === "object" && options !== null ? (options.path === undefined ? (options.host ?? "localhost") : "localhost") : typeof args[1] === "string" ? args[1] : typeof options === "string" ? "localhost" : "localhost";
  if (!loopback(host)) {
    refuse(`connect ${host}`);
    process.nextTick(() => this.destroy(Object.assign(new Error(`loopback-only: connect to ${host} refused`), { code: "ECONNREFUSED" })));
    return this;
  }
  return (connect as (...a: unknown[]) => import("node:net").Socket).apply(this, args);
} as typeof connect;

const lookup = dns.lookup;
dns.lookup = function (hostname: string, ...rest: unknown[]) {
  const callback = rest.at(-1) as (error: Error | null, ...values: unknown[]) => void;
  if (isIP(hostname) || hostname === "localhost") return (lookup as (...a: unknown[]) => void)(hostname, ...rest);
  refuse(`lookup ${hostname}`);
  process.nextTick(() => callback(notFound(hostname)));
} as typeof dns.lookup;

const lookupPromise = dnsPromises.lookup;
dnsPromises.lookup = (async (hostname: string, options?: unknown) => {
  if (isIP(hostname) || hostname === "localhost") return (lookupPromise as (...a: unknown[]) => Promise<unknown>)(hostname, options);
  refuse(`lookup ${hostname}`);
  throw notFound(hostname);
}) as typeof dnsPromises.lookup;

for (const Resolver of [dns.Resolver, dnsPromises.Resolver]) {
  for (const method of ["resolve", "resolve4", "resolve6", "resolveSrv", "resolveAny", "resolveTxt", "resolveCname"] as const) {
    (Resolver.prototype as unknown as Record<string, unknown>)[method] = function (name: string, ...rest: unknown[]) {
      refuse(`${method} ${name}`);
      const callback = rest.at(-1);
      if (typeof callback === "function") return void process.nextTick(() => (callback as (e: Error) => void)(notFound(name)));
      return Promise.reject(notFound(name));
    };
  }
}
syncBuiltinESMExports();
