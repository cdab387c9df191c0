/**
 * Elements and chains. A Handler turns one request into an Observable of responses (one value for
 * a unary call, many for a stream); unsubscribing cancels the call. An Element wraps the next
 * handler: it may rewrite the request on the way out and the responses on the way back.
 */
import { Observable, defer } from "rxjs";
import type { CallContext } from "./context.js";
import { ProxyError } from "./errors.js";
import { brief, isTraced, traceLine } from "./trace.js";

export type Handler<Req, Res> = (req: Req, ctx: CallContext) => Observable<Res>;
export type Element<Req, Res> = ((next: Handler<Req, Res>) => Handler<Req, Res>) & { readonly elementName?: string };

/** Gives an element the name used in traces. */
export function named<Req, Res>(name: string, element: (next: Handler<Req, Res>) => Handler<Req, Res>): Element<Req, Res> {
  return Object.assign(element, { elementName: name });
}

/**
 * Composes elements left to right around a terminal handler: chain(a, b)(t) calls a, then b, then t.
 * Each handler runs inside defer(), so a synchronous throw becomes an error notification and every
 * subscription (a retry, too) starts the element afresh.
 */
export function chain<Req, Res>(...elements: Element<Req, Res>[]): (terminal: Handler<Req, Res>) => Handler<Req, Res> {
  return terminal => elements.reduceRight<Handler<Req, Res>>((next, element) => guard(element, element(next)), guard(undefined, terminal));
}

function guard<Req, Res>(element: Element<Req, Res> | undefined, handler: Handler<Req, Res>): Handler<Req, Res> {
  const name = element?.elementName;
  const plain: Handler<Req, Res> = (req, ctx) => defer(() => handler(req, ctx));
  if (name === undefined) return plain;
  // Decided per call, so that tracing switched on at run time (SIGUSR1) reaches chains built before.
  return (req, ctx) => (isTraced(name) ? traced(name, handler, req, ctx) : plain(req, ctx));
}

function traced<Req, Res>(name: string, handler: Handler<Req, Res>, req: Req, ctx: CallContext): Observable<Res> {
  return new Observable<Res>(subscriber => {
    traceLine(ctx.callId, name, "request", `${ctx.method} ${brief(req)}`);
    let done = false;
    const subscription = defer(() => handler(req, ctx)).subscribe({
      next: value => {
        traceLine(ctx.callId, name, "response", brief(value));
        subscriber.next(value);
      },
      error: (error: unknown) => {
        done = true;
        const e = ProxyError.from(error);
        traceLine(ctx.callId, name, "error", `${e.code} ${e.message}`);
        subscriber.error(error);
      },
      complete: () => {
        done = true;
        traceLine(ctx.callId, name, "complete");
        subscriber.complete();
      },
    });
    return () => {
      if (!done) traceLine(ctx.callId, name, "cancel");
      subscription.unsubscribe();
    };
  });
}
