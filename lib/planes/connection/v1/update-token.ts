/**
 * update-token: the caller's token and expiry (incoming metadata `nsm-client-token` and
 * `nsm-client-token-expires`, RFC 3339) go into the previous segment; a fresh token of ours goes into
 * our segment, and the same token is sent to the next hop in the same two metadata names, where
 * the next hop's update-token puts it into our segment. Incomplete or unparsable metadata is ignored,
 * as in the SDK: the previous segment keeps what the caller wrote into the path.
 */
import { named, type Element } from "../../../pipeline/element.js";
import type { CallContext } from "../../../pipeline/context.js";
import { outgoingMetadata } from "../../../pipeline/upstream.js";
import type { TokenGenerator } from "../../../tokens/token-generator.js";
import { TOKEN_EXPIRES_METADATA, TOKEN_METADATA } from "../../../tokens/metadata.js";
import { formatRfc3339Nano, parseRfc3339, toTimestamp } from "../../../tokens/time.js";
import type { ConnectionLens } from "./lens.js";
import { withSegment } from "./path.js";

/** The caller's token from incoming metadata, when both values are there and the expiry parses. */
export function callerToken(ctx: CallContext): { token: string; expires: number } | undefined {
  const token = ctx.metadata.get(TOKEN_METADATA);
  const text = ctx.metadata.get(TOKEN_EXPIRES_METADATA);
  const expires = text === undefined ? undefined : parseRfc3339(text);
  return token === undefined || expires === undefined ? undefined : { token, expires };
}

export function updateToken<Req, Res>(tokens: TokenGenerator, lens: ConnectionLens<Req>): Element<Req, Res> {
  return named("update-token", next => (req, ctx) => {
    let conn = lens.get(req);
    const index = conn.path?.index ?? 0;
    if (index >= (conn.path?.pathSegments.length ?? 0)) throw new Error(`update-token before update-path: no segment at index ${index}`);
    const caller = callerToken(ctx);
    if (caller && index > 0) {
      conn = withSegment(conn, index - 1, s => ({ ...s, token: caller.token, expires: toTimestamp(caller.expires) }));
    }
    const own = tokens.issue();
    conn = withSegment(conn, index, s => ({ ...s, token: own.token, expires: toTimestamp(own.expires) }));
    const metadata = new Map(ctx.get(outgoingMetadata) ?? []);
    metadata.set(TOKEN_METADATA, own.token);
    metadata.set(TOKEN_EXPIRES_METADATA, formatRfc3339Nano(own.expires));
    return next(lens.set(req, conn), ctx.with(outgoingMetadata, metadata));
  });
}
