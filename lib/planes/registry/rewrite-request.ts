/**
 * Lifts a per-message check or rewrite into an element: `rewriteRequest` for the request of a unary
 * call, `rewriteEachMessage` for every message a client streams. A rewrite returns a new message
 * (never edits its argument); one that throws fails the call - for a stream, the whole stream, with
 * the error's code and the message's 1-based position in the text.
 */
import { map, type Observable } from "rxjs";
import type { CallContext } from "../../pipeline/context.js";
import { named, type Element } from "../../pipeline/element.js";
import { ProxyError } from "../../pipeline/errors.js";

export type Rewrite<T> = (message: T, ctx: CallContext) => T;

export function rewriteRequest<T, Res>(name: string, rewrite: Rewrite<T>): Element<T, Res> {
  return named(name, next => (req, ctx) => next(rewrite(req, ctx), ctx));
}

export function rewriteEachMessage<T, Res>(name: string, rewrite: Rewrite<T>): Element<Observable<T>, Res> {
  return named(name, next => (requests, ctx) =>
    next(
      requests.pipe(
        map((message, i) => {
          try {
            return rewrite(message, ctx);
          } catch (error: unknown) {
            throw ProxyError.from(error).withContext(`message ${i + 1}`);
          }
        }),
      ),
      ctx,
    ),
  );
}
