/**
 * NSM_LISTEN_ON as NSM reads it: one URL or a comma-separated list, each tcp://host:port (or bare
 * host:port) or unix:///absolute/path. pnsmgr needs at least one TCP address (remote domains dial it,
 * and the public URL defaults to it); the first one is the v1 listener's main address, the rest are
 * extra listeners serving the same v1 services. grpc-js binds unix: addresses as they are.
 */
import { lstat, unlink } from "node:fs/promises";
import { ConfigError } from "./config-values.js";
import { parseHostPort, unixAddress } from "./domains/address.js";

export interface ListenOn {
  /** The first TCP address, host:port. */
  readonly main: string;
  /** The others, in order: host:port for TCP, unix:///path for sockets. */
  readonly extra: readonly string[];
}

export function parseListenOn(value: string, env: string): ListenOn {
  const entries = value.split(",").map(part => part.trim()).filter(part => part !== "");
  if (entries.length === 0) throw new ConfigError(env, value, "names no address");
  const addresses = entries.map(entry => listenEntry(entry, env, value));
  const main = addresses.find(address => !address.startsWith("unix:"));
  if (main === undefined) throw new ConfigError(env, value, "needs at least one tcp:// address (remote domains dial it)");
  return { main, extra: addresses.filter(address => address !== main) };
}

function listenEntry(entry: string, env: string, value: string): string {
  if (entry.startsWith("unix:")) {
    const address = unixAddress(entry);
    if (address === undefined) throw new ConfigError(env, value, `${JSON.stringify(entry)}: a unix socket needs an absolute path (unix:///run/pnsmgr.sock)`);
    return address;
  }
  const bare = entry.replace(/^tcp:\/\//, "");
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(bare)) throw new ConfigError(env, value, `${JSON.stringify(entry)}: only tcp:// and unix:// are served`);
  try {
    parseHostPort(bare, "listen address", true);
  } catch (error: unknown) {
    throw new ConfigError(env, value, (error as Error).message);
  }
  return bare;
}

/**
 * A socket file left by an earlier run would make the bind fail: remove it (only if it is a socket),
 * as NSM's ListenAndServe does. Returns the address unchanged.
 */
export async function freeSocketPath(address: string): Promise<string> {
  const path = address.slice("unix://".length);
  const info = await lstat(path).catch(() => undefined);
  if (info?.isSocket()) await unlink(path);
  return address;
}
