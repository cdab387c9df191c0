/**
 * The seed's monitor selector: [{client NSMgr}, {"nsmgr@host:port"}]. The upstream is that address,
 * asked with [{client NSMgr}, {nsmgr}] (names only, as the seed did); anything shorter, or a second
 * segment without "@host:port", is INVALID_ARGUMENT rather than the seed's panic; one naming this
 * proxy's own advertised address is FAILED_PRECONDITION (a loop: the feed would subscribe to itself).
 */
import { invalidArgument } from "../../pipeline/errors.js";
import { refuseSelf } from "../seed-connection-view.js";
import { type NsmUrl, parseNsmUrl } from "../../domains/names.js";
import type { MonitorScopeSelector } from "../../../generated/nsm/connection.js";

export interface SeedMonitorRoute {
  readonly remote: NsmUrl & { readonly written: string };
  readonly upstreamSelector: MonitorScopeSelector;
}

export function routeSeedSelector(selector: MonitorScopeSelector, self?: string): SeedMonitorRoute {
  const segments = selector.pathSegments;
  if (segments.length < 2) {
    throw invalidArgument(`monitor selector has ${segments.length} path segment(s); the proxy needs 2: [client NSMgr, "nsmgr@host:port"]`);
  }
  const client = segments[0]?.name ?? "";
  const written = segments[1]?.name ?? "";
  if (client === "") throw invalidArgument("monitor selector segment 0 has no name");
  refuseSelf(written, self);
  const remote = { ...parseNsmUrl(written, "monitor selector segment 1"), written };
  return {
    remote,
    upstreamSelector: {
      pathSegments: [
        { name: client, id: "", token: "", expires: undefined, metrics: {} },
        { name: remote.name, id: "", token: "", expires: undefined, metrics: {} },
      ],
      networkServices: selector.networkServices,
    },
  };
}
