/**
 * The response headers and trailers the next hop sent back, for the elements that want them. What
 * this hop sends its own caller is the context's `response` (context.ts); what came back from the
 * next hop is caught only where an element asks for it with `receiveNextHopResponse`, per
 * subscription, so a retried call starts empty and two upstream calls of one server call do not
 * share a slot. The transport's client side fills the slots (noteNextHopHeaders/Trailers).
 */
import { type Observable, defer } from "rxjs";
import { type CallContext, type ResponseMetadata, contextKey, createResponseMetadata } from "./context.js";
import type { Handler } from "./element.js";

/** Where the transport writes the next hop's headers and trailers: every slot an element opened, outermost first. */
const nextHopResponse = contextKey<readonly ResponseMetadata[]>("next-hop-response");

/**
 * Calls `next` with a fresh slot for the next hop's response metadata and hands its responses to
 * `use` with that slot. The transport fills the headers before the first response message reaches
 * `use` and the trailers before the call completes or fails (a unary call: before its one value).
 * Slots opened by elements further out are filled too.
 */
export function receiveNextHopResponse<Req, Res>(
  next: Handler<Req, Res>,
  req: Req,
  ctx: CallContext,
  use: (responses: Observable<Res>, received: ResponseMetadata) => Observable<Res>,
): Observable<Res> {
  return defer(() => {
    const received = createResponseMetadata();
    const slots = [...(ctx.get(nextHopResponse) ?? []), received];
    return use(next(req, ctx.with(nextHopResponse, slots)), received);
  });
}

/** Transport side: the next hop's response headers arrived (a later value of a key wins). */
export function noteNextHopHeaders(ctx: CallContext, headers: ReadonlyMap<string, string>): void {
  note(ctx, "headers", headers);
}

/** Transport side: the next hop's trailers arrived with its status. */
export function noteNextHopTrailers(ctx: CallContext, trailers: ReadonlyMap<string, string>): void {
  note(ctx, "trailers", trailers);
}

function note(ctx: CallContext, part: "headers" | "trailers", values: ReadonlyMap<string, string>): void {
  for (const slot of ctx.get(nextHopResponse) ?? []) for (const [key, value] of values) slot[part].set(key, value);
}

/** Whether any element asked for the next hop's response metadata (the transport skips the work otherwise). */
export function wantsNextHopResponse(ctx: CallContext): boolean {
  return (ctx.get(nextHopResponse)?.length ?? 0) > 0;
}
