/**
 * NSM URLs (`tcp://host:port`, what NSE entries and NSM_REGISTRY_URL carry) and the `host:port`
 * that the Upstream dials. Helpers, not an element.
 */
import { invalidArgument } from "../../../pipeline/errors.js";
import { parseHostPort } from "../../../domains/address.js";

const URL_PARTS = /^([A-Za-z][A-Za-z0-9+.-]*:\/\/)(\[[^\]]+\]|[^:/[\]]*)(:\d+)?(.*)$/s;

/** "tcp://10.0.0.1:5001" -> "10.0.0.1:5001"; also accepts a bare host:port. */
export function dialAddressOf(url: string, what = "URL"): string {
  const bare = url.replace(/^tcp:\/\//, "");
  const { host } = parseHostPort(bare, `${what} "${url}"`);
  if (host === "") throw invalidArgument(`${what} "${url}" has no host`);
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
