/**
 * Gives every unary call a deadline: the caller's, or now + the configured default when the caller
 * set none (a proxy must never hold a call forever). The deadline is written into the context so
 * the upstream call carries it, and enforced here as DEADLINE_EXCEEDED.
 */
import { timeout } from "rxjs";
import type { Element } from "./element.js";
import { named } from "./element.js";
import { Code, ProxyError } from "./errors.js";

export function deadline<Req, Res>(defaultTimeoutMs: number, now: () => number = Date.now): Element<Req, Res> {
  return named("deadline", next => (req, ctx) => {
    const at = ctx.deadline ?? now() + defaultTimeoutMs;
    const remaining = Math.max(0, at - now());
    return next(req, ctx.withDeadline(at)).pipe(
      timeout({
        first: remaining,
        with: () => {
          throw new ProxyError(Code.DEADLINE_EXCEEDED, `${ctx.method} did not answer within ${remaining} ms`);
        },
      }),
    );
  });
}
