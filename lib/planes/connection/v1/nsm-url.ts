/** NSM URLs ("tcp://host:port", as NSEs and learned routes carry them) to the host:port the upstream dials. */
import { parseHostPort } from "../../../domains/address.js";
import { unavailable } from "../../../pipeline/errors.js";

export function dialAddressOf(url: string, what: string): string {
  const bare = url.startsWith("tcp://") ? url.slice("tcp://".length).replace(/\/$/, "") : url;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(bare)) throw unavailable(`${what} "${url}" cannot be dialled: only tcp:// URLs are supported`);
  try {
    const { host } = parseHostPort(bare, what);
    if (host === "") throw new Error("no host");
  } catch {
    throw unavailable(`${what} "${url}" is not a tcp://host:port URL`);
  }
  return bare;
}
