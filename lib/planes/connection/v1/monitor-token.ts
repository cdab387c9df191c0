/**
 * The token our downstream monitor streams carry in insecure mode (under mTLS the transport's
 * per-call credentials carry one naming the next hop): the last token issued for our own segment
 * while it has a few seconds left, else a fresh one. One is made at once, so that a replica that
 * opens a stream for a connection it did not make (adopted, a feed taken over) has one at hand.
 */
import type { IssuedToken, TokenGenerator } from "../../../tokens/token-generator.js";
import { TOKEN_EXPIRES_METADATA, TOKEN_METADATA } from "../../../tokens/metadata.js";
import { formatRfc3339Nano } from "../../../tokens/time.js";

export interface MonitorTokens {
  /** The plane's token generator, remembering the last token issued for our own segment. */
  readonly tokens: TokenGenerator;
  /** What a downstream monitor stream carries (nothing when the transport carries the token). */
  readonly metadata: () => ReadonlyMap<string, string> | Promise<ReadonlyMap<string, string>>;
}

export function monitorTokens(base: TokenGenerator, sendToNextHop: boolean): MonitorTokens {
  let lastIssued: IssuedToken | undefined;
  const tokens: TokenGenerator = { issue: peer => base.issue(peer).then(own => (peer ? own : (lastIssued = own))) };
  const tokenMap = (own: IssuedToken): ReadonlyMap<string, string> => new Map([[TOKEN_METADATA, own.token], [TOKEN_EXPIRES_METADATA, formatRfc3339Nano(own.expires)]]);
  const metadata = (): ReadonlyMap<string, string> | Promise<ReadonlyMap<string, string>> => {
    if (!sendToNextHop) return new Map();
    if (lastIssued && lastIssued.expires - Date.now() > 5_000) return tokenMap(lastIssued);
    return tokens.issue().then(own => tokenMap((lastIssued = own)));
  };
  if (sendToNextHop) void Promise.resolve(metadata()).catch(() => undefined);
  return { tokens, metadata };
}
