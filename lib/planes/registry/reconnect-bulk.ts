/**
 * Keeps a client-streamed registration flow (BulkRegisterNSE) alive across upstream failures without
 * losing a message. Every message from the caller is held until the upstream acknowledges it (NSMRS
 * answers each registration with one NSERegistration, in order). When the upstream stream fails with
 * a transient code, a new one is opened after `delayMs` and every unacknowledged message is sent
 * again, oldest first, before new ones. `tries` upstream streams in a row that fail without a single
 * acknowledgement end the caller's stream with UNAVAILABLE; any other upstream error code ends it at
 * once with that error. When the caller half-closes, the upstream is half-closed and the caller's
 * stream completes after the upstream does. Unsubscribing cancels the upstream and any pending
 * reconnect. An acknowledgement lost in a crash means that message reaches the upstream twice (NSMRS
 * treats a repeated bulk registration as a refresh); the caller still sees one answer per message.
 * Must be the last element before the terminal: it calls the terminal once per upstream stream.
 */
import { Observable, type Subscriber, type Subscription } from "rxjs";
import { named, type Element } from "../../pipeline/element.js";
import { Code, ProxyError } from "../../pipeline/errors.js";
import { type Logger, silentLogger } from "../../log.js";

export interface ReconnectBulkOptions {
  /** Upstream streams that may fail in a row, without an acknowledgement, before giving up (default 10). */
  readonly tries?: number;
  /** Wait before each reconnect, in ms (default 1000). */
  readonly delayMs?: number;
  readonly log?: Logger;
}

/** Codes after which a new upstream stream may well succeed. */
const TRANSIENT = new Set<Code>([Code.UNAVAILABLE, Code.UNKNOWN, Code.INTERNAL, Code.ABORTED]);

export function reconnectBulk<Req, Res>(options: ReconnectBulkOptions = {}): Element<Observable<Req>, Res> {
  const tries = Math.max(1, options.tries ?? 10);
  const delayMs = options.delayMs ?? 1000;
  const log = options.log ?? silentLogger;
  return named("reconnect-bulk", next => (requests, ctx) =>
    new Observable<Res>(subscriber => {
      /** Sent (or to be sent) upstream and not yet acknowledged, oldest first. */
      const pending: Req[] = [];
      let callerDone = false;
      let failures = 0;
      let writer: Subscriber<Req> | undefined;
      let attempt: Subscription | undefined;
      let timer: NodeJS.Timeout | undefined;

      /** What one upstream stream is fed: the unacknowledged backlog, then the caller's new messages. */
      const upstreamInput = new Observable<Req>(w => {
        writer = w;
        for (const message of [...pending]) w.next(message);
        if (callerDone) w.complete();
        return () => {
          if (writer === w) writer = undefined;
        };
      });

      const retry = (error: ProxyError) => {
        attempt = undefined;
        if (callerDone && pending.length === 0) {
          subscriber.complete();
          return;
        }
        failures += 1;
        if (failures >= tries) {
          log.error("bulk registration upstream lost, giving up", { method: ctx.method, tries: failures, unacknowledged: pending.length, error: error.message });
          subscriber.error(
            new ProxyError(Code.UNAVAILABLE, `${ctx.method}: upstream failed ${failures} time(s) in a row, giving up with ${pending.length} registration(s) unacknowledged: ${error.message}`, {
              cause: error,
            }),
          );
          return;
        }
        log.warn("bulk registration upstream lost, reconnecting", { method: ctx.method, try: failures + 1, of: tries, delayMs, resend: pending.length, error: error.message });
        timer = setTimeout(connect, delayMs);
      };

      function connect(): void {
        timer = undefined;
        attempt = next(upstreamInput, ctx).subscribe({
          next: response => {
            if (pending.length > 0) pending.shift();
            else log.debug("bulk registration upstream answered more than was sent", { method: ctx.method });
            failures = 0;
            subscriber.next(response);
          },
          error: (error: unknown) => {
            const e = ProxyError.from(error, Code.UNAVAILABLE);
            if (TRANSIENT.has(e.code)) retry(e);
            else subscriber.error(e);
          },
          complete: () => {
            if (callerDone) subscriber.complete();
            else retry(new ProxyError(Code.UNAVAILABLE, "upstream ended the stream while the caller was still sending"));
          },
        });
      }

      const caller = requests.subscribe({
        next: message => {
          pending.push(message);
          writer?.next(message);
        },
        error: (error: unknown) => subscriber.error(ProxyError.from(error, Code.CANCELLED)),
        complete: () => {
          callerDone = true;
          if (writer) writer.complete();
          // Between upstream streams with nothing left to deliver: done, no need to reconnect.
          else if (pending.length === 0) subscriber.complete();
        },
      });
      if (!subscriber.closed) connect();

      return () => {
        clearTimeout(timer);
        caller.unsubscribe();
        attempt?.unsubscribe();
      };
    }),
  );
}
