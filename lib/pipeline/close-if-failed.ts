/**
 * No orphans at the next hop: a Request the next hop accepted, that then fails on its way back to
 * the caller (a record not written, the deadline, the caller gone), would leave a connection open
 * there that nobody will Close. `noteAccepted` (right before the forward) remembers the next hop's
 * answer; `closeIfFailed` (first in the chain) runs the plane's Close with it when the call ends
 * without the caller getting that answer, as NSM's begin closes what it could not hand back.
 */
import { Observable } from "rxjs";
import { type CallContext, contextKey } from "./context.js";
import { type Element, named } from "./element.js";

interface Accepted<Res> {
  value?: { readonly answer: Res; readonly ctx: CallContext };
}

const acceptedSlot = contextKey<Accepted<unknown>>("accepted-by-next-hop");

/** Remembers the next hop's answer for `closeIfFailed`; place it right before the forward. */
export function noteAccepted<Req, Res>(): Element<Req, Res> {
  return named("note-accepted", next => (req, ctx) =>
    new Observable<Res>(subscriber => {
      const slot = ctx.get(acceptedSlot);
      return next(req, ctx).subscribe({
        next: answer => {
          if (slot) slot.value = { answer, ctx };
          subscriber.next(answer);
        },
        error: (error: unknown) => subscriber.error(error),
        complete: () => subscriber.complete(),
      });
    }),
  );
}

/**
 * Calls `close(answer, ctx)` (with the context the forward had) when the next hop accepted the call
 * but the caller did not get an answer: an error after acceptance, or the caller's cancel.
 */
export function closeIfFailed<Req, Res>(close: (answer: Res, ctx: CallContext) => void): Element<Req, Res> {
  return named("close-if-failed", next => (req, ctx) =>
    new Observable<Res>(subscriber => {
      const slot: Accepted<Res> = {};
      let answered = false;
      const subscription = next(req, ctx.with(acceptedSlot, slot as Accepted<unknown>)).subscribe({
        next: value => {
          answered = true;
          subscriber.next(value);
        },
        error: (error: unknown) => subscriber.error(error),
        complete: () => subscriber.complete(),
      });
      return () => {
        subscription.unsubscribe();
        const accepted = slot.value;
        slot.value = undefined;
        if (!answered && accepted) close(accepted.answer, accepted.ctx);
      };
    }),
  );
}
