/**
 * What the pipeline needs from a transport to reach the next hop. The last element of a chain calls
 * an Upstream with the address an earlier element chose; transport/grpc implements it with a pool of
 * reused channels. Deadline and cancellation travel with the call: the context's deadline is sent
 * upstream, and unsubscribing cancels the upstream call. The planes' Upstream takes addresses as
 * written; the one implementation (lib/guard/guarded-upstream.ts) passes each through the destination
 * guard and hands the client pool only what the guard returned (a Destination).
 */
import type { Observable } from "rxjs";
import type { CallContext } from "./context.js";
import { contextKey } from "./context.js";

/** The shape of a generated grpc-js method definition, restated so the pipeline needs no transport. */
export interface MethodDescriptor<Req, Res> {
  readonly path: string;
  readonly requestStream: boolean;
  readonly responseStream: boolean;
  readonly requestSerialize: (value: Req) => Buffer;
  readonly responseDeserialize: (bytes: Buffer) => Res;
}

export interface Upstream {
  unary<Req, Res>(address: string, method: MethodDescriptor<Req, Res>, request: Req, ctx: CallContext): Observable<Res>;
  serverStream<Req, Res>(address: string, method: MethodDescriptor<Req, Res>, request: Req, ctx: CallContext): Observable<Res>;
  bidiStream<Req, Res>(address: string, method: MethodDescriptor<Req, Res>, requests: Observable<Req>, ctx: CallContext): Observable<Res>;
  /** Closes every channel; calls in flight end with CANCELLED/UNAVAILABLE. */
  close(): void;
}

declare const guarded: unique symbol;

/**
 * A destination the destination guard (lib/guard) checked and pinned: `address` is what is dialled
 * (a checked IP and port, or an operator's configured address as written), `authority` the host:port
 * the caller or operator named (for the :authority header and TLS server names). Only the guard
 * makes these, so a dial that skipped it does not compile.
 */
export interface Destination {
  readonly address: string;
  readonly authority: string;
  readonly [guarded]: true;
}

/** What the transport's client pool offers: the Upstream calls, on guarded destinations only. */
export interface PinnedUpstream {
  unary<Req, Res>(destination: Destination, method: MethodDescriptor<Req, Res>, request: Req, ctx: CallContext): Observable<Res>;
  serverStream<Req, Res>(destination: Destination, method: MethodDescriptor<Req, Res>, request: Req, ctx: CallContext): Observable<Res>;
  bidiStream<Req, Res>(destination: Destination, method: MethodDescriptor<Req, Res>, requests: Observable<Req>, ctx: CallContext): Observable<Res>;
  close(): void;
}

/** Metadata an element wants sent with the upstream call (tokens, path), lower-case keys. */
export const outgoingMetadata = contextKey<ReadonlyMap<string, string>>("outgoing-metadata");
