/**
 * Per-call context: what the transport knew about the call (method, peer, incoming metadata,
 * deadline) plus typed values that elements hand to the elements after them. A context is never
 * mutated: `with` returns a new one, so a re-subscribed call starts from the same state. The one
 * mutable part is `response`, the headers and trailers this hop sends back to its caller: one per
 * call, shared by every context derived from it, written by elements and sent by the transport.
 */
import { traceCallId } from "./trace.js";

export interface ContextKey<T> {
  readonly name: string;
  /** Phantom field: carries T so that keys of different types do not mix. */
  readonly _type?: T;
}

export function contextKey<T>(name: string): ContextKey<T> {
  return { name };
}

/** Text metadata of a call's answer, lower-case keys: headers (before the first response message) and trailers (with the status). */
export interface ResponseMetadata {
  readonly headers: Map<string, string>;
  readonly trailers: Map<string, string>;
}

export function createResponseMetadata(): ResponseMetadata {
  return { headers: new Map(), trailers: new Map() };
}

export interface CallContext {
  /** Full gRPC method path, e.g. "/networkservice.NetworkService/Request". */
  readonly method: string;
  /** The caller's address as the transport saw it. */
  readonly peer: string;
  /** Incoming metadata, lower-case keys, first value of each. */
  readonly metadata: ReadonlyMap<string, string>;
  /** Absolute deadline in epoch milliseconds; undefined when the caller set none. */
  readonly deadline: number | undefined;
  /** Short id that ties the trace lines of one call together. */
  readonly callId: string;
  /**
   * What this hop sends back to its caller. The transport sends the headers with the first response
   * message (or with the status when there is none; later changes are not sent) and the trailers with
   * the status, on success and failure alike.
   */
  readonly response: ResponseMetadata;
  get<T>(key: ContextKey<T>): T | undefined;
  /** The value an earlier element must have set; a missing one is a wiring bug (INTERNAL) named by its key. */
  require<T>(key: ContextKey<T>): T;
  with<T>(key: ContextKey<T>, value: T): CallContext;
  withDeadline(deadline: number | undefined): CallContext;
}

export interface CallInfo {
  method: string;
  peer?: string;
  metadata?: ReadonlyMap<string, string>;
  deadline?: number;
}

export function createCallContext(info: CallInfo): CallContext {
  const call = { method: info.method, peer: info.peer ?? "", metadata: info.metadata ?? new Map(), callId: traceCallId(), response: createResponseMetadata() };
  return makeContext(call, info.deadline, new Map());
}

/** What stays the same in every context of one call. */
type CallFacts = Pick<CallContext, "method" | "peer" | "metadata" | "callId" | "response">;

function makeContext(call: CallFacts, deadline: number | undefined, values: ReadonlyMap<ContextKey<unknown>, unknown>): CallContext {
  return {
    method: call.method,
    peer: call.peer,
    metadata: call.metadata,
    callId: call.callId,
    response: call.response,
    deadline,
    get: <T>(key: ContextKey<T>) => values.get(key) as T | undefined,
    require: <T>(key: ContextKey<T>) => {
      if (!values.has(key)) throw new Error(`pipeline misassembled: no "${key.name}" in the call context`);
      return values.get(key) as T;
    },
    with: <T>(key: ContextKey<T>, value: T) => makeContext(call, deadline, new Map(values).set(key, value)),
    withDeadline: (next: number | undefined) => makeContext(call, next, values),
  };
}

/**
 * Set by the transport on server-streaming calls: resolves once the caller has taken enough of what
 * was sent to it (or the call is over), so that a handler producing many messages at once (a replay)
 * can wait between batches instead of queueing them all for a slow reader.
 */
export const sendReady = contextKey<() => Promise<void>>("send-ready");

/** What the transport verified of an mTLS caller: its SPIFFE ID, certificate expiry and public key. */
export interface TlsPeer {
  readonly spiffeId: string;
  /** Epoch ms when the peer's certificate expires. */
  readonly notAfter: number;
  /** The peer certificate's public key (checks tokens the peer signed). */
  readonly publicKey: import("node:crypto").KeyObject;
}

/** Set by the transport on calls that came over mTLS; absent on plaintext listeners. */
export const tlsPeer = contextKey<TlsPeer>("tls-peer");
