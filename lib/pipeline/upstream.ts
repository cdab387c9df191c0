/**
 * What the pipeline needs from a transport to reach the next hop. The last element of a chain calls
 * an Upstream with the address an earlier element chose; transport/grpc implements it with a pool of
 * reused channels. Deadline and cancellation travel with the call: the context's deadline is sent
 * upstream, and unsubscribing cancels the upstream call.
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

/** Metadata an element wants sent with the upstream call (tokens, path), lower-case keys. */
export const outgoingMetadata = contextKey<ReadonlyMap<string, string>>("outgoing-metadata");
