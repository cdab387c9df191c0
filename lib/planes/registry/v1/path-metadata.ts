/**
 * Carries the caller's registry path through this proxy unchanged: the `path` metadata (JSON
 * {"Index":n,"PathSegments":[{"token":..}]}) goes upstream exactly as it came, so the next SDK
 * registry extends the path of the hop before this proxy, and path_ids[0] (the identity the
 * registry's client_allowed policy compares on refresh and Unregister) stays the original
 * registrant's. In insecure mode the caller's per-RPC token (`nsm-client-token`,
 * `nsm-client-token-expires`) goes on too; under mTLS the transport sends this proxy's own token,
 * naming the registry it reached, instead.
 *
 * This proxy adds no segment of its own; an SDK registry does not need one (without `path` it logs a
 * warning and starts a new path), and the SDK registries accept the path as carried. A `path`
 * that is not such JSON is INVALID_ARGUMENT here rather than silently dropped by the next registry.
 * The updated path an SDK registry returns in its response header goes back to the caller through
 * path-header.ts.
 */
import { named, type Element } from "../../../pipeline/element.js";
import { invalidArgument } from "../../../pipeline/errors.js";
import { outgoingMetadata } from "../../../pipeline/upstream.js";

export const PATH_METADATA_KEYS = ["path", "nsm-client-token", "nsm-client-token-expires"] as const;

/** `carryTokens` false (mTLS): only `path` is carried; the transport sends this proxy's own token. */
export function passPathMetadata<Req, Res>(carryTokens = true): Element<Req, Res> {
  const keys = carryTokens ? PATH_METADATA_KEYS : (["path"] as const);
  return named("path-metadata", next => (req, ctx) => {
    const path = ctx.metadata.get("path");
    if (path !== undefined) checkPath(path);
    const carried = keys.flatMap(key => {
      const value = ctx.metadata.get(key);
      return value === undefined ? [] : [[key, value] as const];
    });
    if (carried.length === 0) return next(req, ctx);
    const out = new Map(ctx.get(outgoingMetadata) ?? []);
    for (const [key, value] of carried) out.set(key, value);
    return next(req, ctx.with(outgoingMetadata, out));
  });
}

/** What the SDK's grpcmetadata/updatepath would choke on; field names as Go marshals them. */
function checkPath(text: string): void {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw invalidArgument(`"path" metadata is not JSON: expected {"Index":n,"PathSegments":[{"token":"..."}]}`);
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) throw invalidArgument('"path" metadata is not a JSON object {"Index":n,"PathSegments":[...]}');
  const { Index: index, PathSegments: segments } = doc as { Index?: unknown; PathSegments?: unknown };
  if (index !== undefined && !(Number.isInteger(index) && (index as number) >= 0)) throw invalidArgument(`"path" metadata: Index ${JSON.stringify(index)} is not a whole number`);
  if (segments !== undefined && segments !== null) {
    if (!Array.isArray(segments) || segments.some(s => typeof s !== "object" || s === null)) throw invalidArgument('"path" metadata: PathSegments is not a list of {"token":"..."}');
    if (segments.length > 0 && ((index as number | undefined) ?? 0) >= segments.length) {
      throw invalidArgument(`"path" metadata: Index ${String(index)} is past the ${segments.length} path segments`);
    }
  }
}
