/** Maps between the pipeline's ProxyError and gRPC statuses, in both directions. */
import { Metadata, status as GrpcStatus, type ServiceError, type StatusObject } from "@grpc/grpc-js";
import { Code, ProxyError } from "../../pipeline/errors.js";

/**
 * Longest status message sent: grpc-js sends the message in a trailer, and a trailer of ~100 KB is
 * never delivered (the call, and the next one on that connection, hang). Elements bound what they echo;
 * this is the one cap behind them.
 */
export const MAX_STATUS_MESSAGE = 1024;

/** The status a server handler reports for any error a pipeline produced or threw. */
export function toStatus(error: unknown): StatusObject {
  const e = ProxyError.from(error);
  return { code: e.code as number as GrpcStatus, details: capMessage(e.message), metadata: new Metadata() };
}

/** `message` cut to MAX_STATUS_MESSAGE characters, marked as cut. */
export function capMessage(message: string): string {
  return message.length <= MAX_STATUS_MESSAGE ? message : `${message.slice(0, MAX_STATUS_MESSAGE - 20)}… (message cut)`;
}

/** ServiceError form of toStatus, for unary callbacks. */
export function toServiceError(error: unknown): Partial<ServiceError> & StatusObject {
  const s = toStatus(error);
  return Object.assign(new Error(s.details), s);
}

/**
 * An error from a call this proxy made upstream. The remote's code is kept (a proxy relays what the
 * next hop said) with the address prepended; CANCELLED is read as UNAVAILABLE, because a call this
 * proxy cancels itself is unsubscribed before any error arrives, so a CANCELLED that does arrive
 * came from the peer going away (grpc-js reports a server's forceShutdown that way).
 */
export function fromUpstreamError(error: unknown, address: string): ProxyError {
  const e = ProxyError.from(error, Code.UNAVAILABLE);
  const code = e.code === Code.CANCELLED ? Code.UNAVAILABLE : e.code;
  return new ProxyError(code, `next hop ${address}: ${e.message}`, { cause: error });
}
