/**
 * Bridges grpc-js server calls to pipeline handlers: builds the call context (method, peer,
 * metadata, deadline), subscribes to the handler's Observable, writes its values, maps its error to
 * a status, and unsubscribes when the caller cancels or its deadline passes. The headers and trailers
 * elements set in the context's `response` go out with the first message and with the status.
 */
import type {
  Deadline,
  Metadata,
  ServerDuplexStream,
  ServerUnaryCall,
  ServerWritableStream,
  handleBidiStreamingCall,
  handleServerStreamingCall,
  handleUnaryCall,
  sendUnaryData,
} from "@grpc/grpc-js";
import { Observable, Subject, Subscription, take } from "rxjs";
import { type CallContext, createCallContext, sendReady, tlsPeer } from "../../pipeline/context.js";
import type { Handler } from "../../pipeline/element.js";
import { Code, ProxyError } from "../../pipeline/errors.js";
import { toServiceError, toStatus } from "./status.js";
import { firstTextValues, toGrpcMetadata } from "./metadata-text.js";
import type { BridgeOptions } from "./bridge-options.js";
import { type CallObservation, noteFailure, observer } from "../../observability/observer.js";

type AnyServerCall = ServerUnaryCall<unknown, unknown> | ServerWritableStream<unknown, unknown> | ServerDuplexStream<unknown, unknown>;

export function contextOf(call: AnyServerCall, options: BridgeOptions = {}): CallContext {
  const ctx = createCallContext({
    method: call.getPath(),
    peer: call.getPeer(),
    metadata: firstTextValues(call.metadata),
    deadline: deadlineMs(call.getDeadline()),
  });
  return options.tlsPeer ? ctx.with(tlsPeer, options.tlsPeer(call.getAuthContext().sslPeerCertificate)) : ctx;
}

/** The call's context, or the refusal of an mTLS caller the transport did not accept. */
function openContext(call: AnyServerCall, options: BridgeOptions): CallContext | ProxyError {
  try {
    return contextOf(call, options);
  } catch (error: unknown) {
    const refused = ProxyError.from(error);
    options.onFailure?.(call.getPath(), refused);
    noteFailure(call.getPath(), refused.code, refused.message);
    return refused;
  }
}

export function serveUnary<Req, Res>(handler: Handler<Req, Res>, options: BridgeOptions = {}): handleUnaryCall<Req, Res> {
  return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
    const served = openContext(call as AnyServerCall, options);
    if (served instanceof ProxyError) return callback(toServiceError(served));
    const observed = observer().serverCall(served, "unary");
    const ctx = observed?.ctx ?? served;
    observed?.received();
    let answered = false;
    const answer = (error: unknown, value?: Res) => {
      if (answered) return;
      answered = true;
      sendHeaders(call, ctx);
      if (error === null) {
        callback(null, value, trailersOf(ctx));
        observed?.sent();
        observed?.end(0);
      } else {
        const e = ProxyError.from(error);
        options.onFailure?.(ctx.method, e);
        noteFailure(ctx.method, e.code, e.message);
        observed?.end(e.code);
        callback(withTrailers(toServiceError(error), ctx));
      }
    };
    // A caller that left before the handler ran never gets a "cancelled" event: do not start its call.
    if (callerGone(call)) return;
    const subscription = handler(call.request, ctx)
      .pipe(take(1))
      .subscribe({
        next: value => answer(null, value),
        error: (error: unknown) => answer(error),
        complete: () => {
          if (!answered) answer(new ProxyError(Code.INTERNAL, `${ctx.method} produced no response`));
        },
      });
    call.on("cancelled", () => {
      observed?.end(Code.CANCELLED);
      subscription.unsubscribe();
    });
  };
}

/**
 * Messages a stream may have queued for a caller that does not read before the stream is ended with
 * RESOURCE_EXHAUSTED: a slow subscriber must not make the proxy buffer without bound.
 */
export const MAX_QUEUED_MESSAGES = 10_000;

export function serveServerStream<Req, Res>(handler: Handler<Req, Res>, options: BridgeOptions = {}): handleServerStreamingCall<Req, Res> {
  return (call: ServerWritableStream<Req, Res>) => {
    const served = openContext(call as AnyServerCall, options);
    if (served instanceof ProxyError) return void call.emit("error", toStatus(served));
    const observed = observer().serverCall(served, "server_stream");
    observed?.received();
    const ctx = (observed?.ctx ?? served).with(sendReady, () => drained(call));
    relay(call, ctx, handler(call.request, ctx), options, observed);
  };
}

/** A bidi call's handler receives the caller's messages as an Observable that ends when the caller half-closes. */
export function serveBidiStream<Req, Res>(handler: Handler<Observable<Req>, Res>, options: BridgeOptions = {}): handleBidiStreamingCall<Req, Res> {
  return (call: ServerDuplexStream<Req, Res>) => {
    const served = openContext(call as AnyServerCall, options);
    if (served instanceof ProxyError) return void call.emit("error", toStatus(served));
    const observed = observer().serverCall(served, "bidi_stream");
    const ctx = observed?.ctx ?? served;
    const requests = new Subject<Req>();
    call.on("data", (message: Req) => {
      observed?.received();
      requests.next(message);
    });
    call.on("end", () => requests.complete());
    call.on("error", (error: unknown) => requests.error(ProxyError.from(error, Code.CANCELLED)));
    relay(call, ctx, handler(requests.asObservable(), ctx), options, observed, () => requests.complete());
  };
}

/**
 * Writes a handler's responses to a server stream: each value written (the stream ended with
 * RESOURCE_EXHAUSTED past `maxQueued` unread messages), completion ends it OK, an error (or a drain,
 * through the open-stream registry) ends it with a status; the caller cancelling unsubscribes.
 */
function relay<Res>(
  call: ServerWritableStream<unknown, Res> | ServerDuplexStream<unknown, Res>,
  ctx: CallContext,
  responses: Observable<Res>,
  options: BridgeOptions,
  observed: CallObservation | undefined,
  teardown?: () => void,
): void {
  const maxQueued = options.maxQueued ?? MAX_QUEUED_MESSAGES;
  if (callerGone(call)) return;
  const subscription = new Subscription();
  if (teardown) subscription.add(teardown);
  let headersSent = false;
  const headersOnce = () => {
    if (headersSent) return;
    headersSent = true;
    sendHeaders(call, ctx);
  };
  const fail = (error: unknown) => {
    subscription.unsubscribe();
    const e = ProxyError.from(error);
    options.onFailure?.(ctx.method, e);
    noteFailure(ctx.method, e.code, e.message);
    observed?.end(e.code);
    headersOnce();
    call.emit("error", withTrailers(toStatus(e), ctx));
  };
  const release = options.streamsPerPeer ? options.streamsPerPeer.acquire(ctx.peer) : () => undefined;
  if (release === undefined) {
    fail(new ProxyError(Code.RESOURCE_EXHAUSTED, `${ctx.method}: this peer has too many streams open`));
    return;
  }
  subscription.add(release);
  const unregister = options.streams?.add(fail);
  subscription.add(() => unregister?.());
  subscription.add(
    responses.subscribe({
      next: value => {
        if (call.writableLength >= maxQueued) {
          fail(new ProxyError(Code.RESOURCE_EXHAUSTED, `${ctx.method}: caller reads too slowly (${maxQueued} messages queued)`));
          return;
        }
        headersOnce();
        call.write(value);
        observed?.sent();
      },
      error: fail,
      complete: () => {
        subscription.unsubscribe();
        observed?.end(0);
        headersOnce();
        call.end(trailersOf(ctx));
      },
    }),
  );
  call.on("cancelled", () => {
    observed?.end(Code.CANCELLED);
    subscription.unsubscribe();
  });
}

/**
 * Whether the caller cancelled (RST_STREAM) before grpc-js invoked the handler. grpc-js emits
 * "cancelled" only on a call object that exists; a reset that lands between the request message and
 * the handler (under load: a burst of cancels) is recorded on the underlying call alone, which
 * `checkCancelled()` reads (it also looks at the HTTP/2 stream itself). Without this, such a call
 * would go on to the next hop with nobody left to cancel it before its deadline. (grpc-js internals:
 * when they change, this falls back to the public `cancelled` flag.)
 */
function callerGone(call: AnyServerCall): boolean {
  if (call.cancelled) return true;
  const underlying = (call as unknown as { call?: { checkCancelled?: () => boolean } }).call;
  return typeof underlying?.checkCancelled === "function" ? underlying.checkCancelled() : false;
}

/** Resolves when the stream's write buffer has drained (at once if it need not), or the call is over. */
function drained(call: ServerWritableStream<unknown, unknown>): Promise<void> {
  if (!call.writableNeedDrain || call.destroyed || call.writableEnded) return Promise.resolve();
  return new Promise(resolve => {
    const done = () => {
      call.off("drain", done);
      call.off("close", done);
      call.off("cancelled", done);
      resolve();
    };
    call.on("drain", done);
    call.on("close", done);
    call.on("cancelled", done);
  });
}

/** The headers elements set for the caller, if any (grpc-js sends empty ones by itself; once sent, later ones are dropped). */
function sendHeaders(call: AnyServerCall, ctx: CallContext): void {
  if (ctx.response.headers.size > 0) call.sendMetadata(toGrpcMetadata(ctx.response.headers));
}

/** The trailers elements set for the caller; undefined (grpc-js's default, none) when there are none. */
function trailersOf(ctx: CallContext): Metadata | undefined {
  return ctx.response.trailers.size > 0 ? toGrpcMetadata(ctx.response.trailers) : undefined;
}

/** `status` (made afresh for this call) with the caller's trailers in place of its empty metadata. */
function withTrailers<S extends { metadata: Metadata }>(status: S, ctx: CallContext): S {
  const trailers = trailersOf(ctx);
  return trailers === undefined ? status : Object.assign(status, { metadata: trailers });
}

function deadlineMs(deadline: Deadline): number | undefined {
  const ms = deadline instanceof Date ? deadline.getTime() : deadline;
  return Number.isFinite(ms) ? ms : undefined;
}
