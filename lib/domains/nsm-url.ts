/**
 * NSM URLs (`tcp://host:port`, what NSE entries, learned routes and NSM_REGISTRY_URL carry) and the
 * `host:port` the Upstream dials. Helpers shared by the v1 planes.
 */
import { parseHostPort } from "./address.js";
import { quoted, unavailable } from "../pipeline/errors.js";

const URL_PARTS = /^([A-Za-z][A-Za-z0-9+.-]*:\/\/)(\[[^\]]+\]|[^:/[\]]*)(:\d+)?(.*)$/s;

/** "tcp://10.0.0.1:5001" -> "10.0.0.1:5001" (a bare host:port is accepted too); anything else cannot be dialled: UNAVAILABLE. */
export function dialAddressOf(url: string, what = "URL"): string {
  const bare = url.startsWith("tcp://") ? url.slice("tcp://".length).replace(/\/$/, "") : url;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(bare)) throw unavailable(`${what} ${quoted(url)} cannot be dialled: only tcp:// URLs are supported`);
  try {
    const { host } = parseHostPort(bare, what);
    if (host === "") throw new Error("no host");
  } catch {
    throw unavailable(`${what} ${quoted(url)} is not a tcp://host:port URL`);
  }
  return bare;
}

/** "10.0.0.1:5001" -> "tcp://10.0.0.1:5001". */
export function nsmUrl(address: string): string {
  return `tcp://${address}`;
}

/** The host of a URL, brackets removed; undefined when the text is not scheme://host[:port]... */
export function urlHost(url: string): string | undefined {
  const match = URL_PARTS.exec(url);
  if (!match || (match[2] ?? "") === "") return undefined;
  return (match[2] ?? "").replace(/^\[(.*)\]$/, "$1");
}

/** The same URL with another host (an IPv6 host gets brackets); unchanged when it does not parse. */
export function withUrlHost(url: string, host: string): string {
  const match = URL_PARTS.exec(url);
  if (!match) return url;
  const printed = host.includes(":") ? `[${host}]` : host;
  return `${match[1] ?? ""}${printed}${match[3] ?? ""}${match[4] ?? ""}`;
}
