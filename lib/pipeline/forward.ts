/**
 * The terminal handler of a forwarding chain: calls `method` on the next hop an earlier element put
 * into the context under `nextHop`. Unary, server-streaming and bidi methods alike.
 */
import type { Observable } from "rxjs";
import { contextKey } from "./context.js";
import type { Handler } from "./element.js";
import type { MethodDescriptor, Upstream } from "./upstream.js";

/** host:port of the next hop, chosen by a routing element. */
export const nextHop = contextKey<string>("next-hop");

export function forwardUnary<Req, Res>(upstream: Upstream, method: MethodDescriptor<Req, Res>): Handler<Req, Res> {
  return (req, ctx) => upstream.unary(ctx.require(nextHop), method, req, ctx);
}

export function forwardServerStream<Req, Res>(upstream: Upstream, method: MethodDescriptor<Req, Res>): Handler<Req, Res> {
  return (req, ctx) => upstream.serverStream(ctx.require(nextHop), method, req, ctx);
}

export function forwardBidiStream<Req, Res>(upstream: Upstream, method: MethodDescriptor<Req, Res>): Handler<Observable<Req>, Res> {
  return (requests, ctx) => upstream.bidiStream(ctx.require(nextHop), method, requests, ctx);
}
