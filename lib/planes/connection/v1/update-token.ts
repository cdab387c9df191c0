/**
 * update-token: the caller's token and expiry (incoming metadata `nsm-client-token` and
 * `nsm-client-token-expires`, RFC 3339) go into the previous segment; a fresh token of ours goes into
 * our segment, naming the caller (its mTLS SPIFFE ID) as `aud`, as the SDK's updatetoken server does.
 * Insecure mode also sends that token to the next hop in the same two metadata names; under mTLS the
 * transport's per-call credentials do it instead, with a token naming the next hop (the SDK's
 * per-RPC credentials), which the next hop writes into our segment. Incomplete or unparsable metadata
 * is ignored, as in the SDK: the previous segment keeps what the caller wrote into the path.
 */
import { from, switchMap } from "rxjs";
import { named, type Element } from "../../../pipeline/element.js";
import { type CallContext, tlsPeer } from "../../../pipeline/context.js";
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

export interface UpdateTokenOptions {
  /** Put our token into the outgoing metadata (insecure mode); false when the transport does (mTLS). */
  sendToNextHop: boolean;
}

export function updateToken<Req, Res>(tokens: TokenGenerator, lens: ConnectionLens<Req>, options: UpdateTokenOptions = { sendToNextHop: true }): Element<Req, Res> {
  return named("update-token", next => (req, ctx) => {
    let conn = lens.get(req);
    const index = conn.path?.index ?? 0;
    if (index >= (conn.path?.pathSegments.length ?? 0)) throw new Error(`update-token before update-path: no segment at index ${index}`);
    const caller = callerToken(ctx);
    if (caller && index > 0) {
      conn = withSegment(conn, index - 1, s => ({ ...s, token: caller.token, expires: toTimestamp(caller.expires) }));
    }
    const peer = ctx.get(tlsPeer);
    return from(tokens.issue(peer)).pipe(
      switchMap(own => {
        const updated = withSegment(conn, index, s => ({ ...s, token: own.token, expires: toTimestamp(own.expires) }));
        if (!options.sendToNextHop) return next(lens.set(req, updated), ctx);
        const metadata = new Map(ctx.get(outgoingMetadata) ?? []);
        metadata.set(TOKEN_METADATA, own.token);
        metadata.set(TOKEN_EXPIRES_METADATA, formatRfc3339Nano(own.expires));
        return next(lens.set(req, updated), ctx.with(outgoingMetadata, metadata));
      }),
    );
  });
}
