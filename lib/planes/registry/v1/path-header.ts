/**
 * Answers a Register or Unregister that carried the registry `path` with a `path` response header,
 * as the SDK's grpcmetadata server does for the hop in front of it. The SDK's grpcmetadata client
 * there takes the path from that header, so a registrant learns the path as the whole chain left it
 * (the registry's own segment included) and refreshes with it.
 *
 * pnsmgr adds no segment (path-metadata.ts), so the path it answers with is the one the next hop
 * returned (its last `path` value), or, when the next hop returned none or one the SDK could not read,
 * the caller's path as it came: what an SDK hop holds when its next hop sent nothing back. A call
 * without `path`, or one that failed, gets no header (the SDK sends none then either). Finds carry no
 * path back in NSM v1.18 (grpcmetadata passes them through); this element is on the unary chains only.
 */
import { tap } from "rxjs";
import { named, type Element } from "../../../pipeline/element.js";
import { receiveNextHopResponse } from "../../../pipeline/next-hop-response.js";

export function relayPathHeader<Req, Res>(): Element<Req, Res> {
  return named("path-header", next => (req, ctx) => {
    const sent = ctx.metadata.get("path");
    if (sent === undefined) return next(req, ctx);
    return receiveNextHopResponse(next, req, ctx, (responses, received) =>
      responses.pipe(
        tap(() => {
          const returned = received.headers.get("path");
          ctx.response.headers.set("path", returned !== undefined && readableAsPath(returned) ? returned : sent);
        }),
      ),
    );
  });
}

/**
 * Whether the SDK (Go's encoding/json into {Index uint32; PathSegments []{token string}}) reads `text`
 * as a path. It does not check Index against the segments; neither does this.
 */
function readableAsPath(text: string): boolean {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return false;
  }
  if (doc === null) return true;
  if (typeof doc !== "object" || Array.isArray(doc)) return false;
  const { Index: index, PathSegments: segments } = doc as { Index?: unknown; PathSegments?: unknown };
  const indexOk = index === undefined || index === null || (Number.isInteger(index) && (index as number) >= 0 && (index as number) <= 0xffffffff);
  const segmentOk = (segment: unknown) => {
    if (segment === null) return true;
    if (typeof segment !== "object" || Array.isArray(segment)) return false;
    const token = (segment as { token?: unknown }).token;
    return token === undefined || token === null || typeof token === "string";
  };
  return indexOk && (segments === undefined || segments === null || (Array.isArray(segments) && segments.every(segmentOk)));
}
