/**
 * The one interface the transport and the elements report to: gRPC calls served and made (metrics
 * under go-grpc-prometheus's names, a span each, W3C trace context), refusals, Redis command times.
 * Until start-up installs a real one (observability/start.ts, only when metrics or TELEMETRY are on)
 * it is the no-op below, so a call pays one property read and an empty call.
 */
import type { CallContext } from "../pipeline/context.js";

/** go-grpc-prometheus's grpc_type label. */
export type GrpcType = "unary" | "client_stream" | "server_stream" | "bidi_stream";

/** One call being observed: count its messages, then end it once with its status code. */
export interface CallObservation {
  /** The call's context, carrying its span when tracing is on (pass it on instead of the original). */
  readonly ctx: CallContext;
  received(): void;
  sent(): void;
  /** The gRPC status code the call ended with (0 = OK). Later calls are ignored. */
  end(code: number): void;
}

export interface Observer {
  readonly active: boolean;
  /** A call this proxy serves starts; undefined when nothing observes. */
  serverCall(ctx: CallContext, type: GrpcType): CallObservation | undefined;
  /**
   * A call this proxy makes to `address` starts; `setHeader` adds outgoing metadata (traceparent).
   * undefined when nothing observes.
   */
  clientCall(address: string, path: string, type: GrpcType, ctx: CallContext, setHeader: (key: string, value: string) => void): CallObservation | undefined;
  /** A call this proxy refused itself (bad input, policy, limits), by method, status code and rule (refusalRule). */
  refusal(method: string, code: number, rule: string): void;
  /** One state store command took `seconds` (ok: it succeeded). */
  stateCommand(seconds: number, ok: boolean): void;
  /**
   * A connection went DOWN or was deleted, for this reason (planes/end-reasons.ts), seen by `hop`;
   * `ctx`: the served call it happened in, if any (its span gets the reason).
   */
  connectionEnded?(reason: string, hop: string, ctx?: CallContext): void;
  /** A Find for `domain` was answered from its registry's last good answer (the registry was out of reach). */
  registryStaleAnswer(domain: string): void;
}

export const noopObserver: Observer = {
  active: false,
  serverCall: () => undefined,
  clientCall: () => undefined,
  refusal() {},
  stateCommand() {},
  registryStaleAnswer() {},
};

let current: Observer = noopObserver;

/** The installed observer (the no-op until start-up installs one). */
export function observer(): Observer {
  return current;
}

/** Installs `next` for the process; returns a function that puts the previous one back. */
export function installObserver(next: Observer): () => void {
  const previous = current;
  current = next;
  return () => {
    if (current === next) current = previous;
  };
}

/** "/pkg.Service/Method" -> ["pkg.Service", "Method"]. */
export function splitMethod(path: string): [string, string] {
  const slash = path.lastIndexOf("/");
  return [path.slice(path.startsWith("/") ? 1 : 0, slash < 0 ? 0 : slash), path.slice(slash + 1)];
}

/** Codes with which pnsmgr refuses a call itself (as opposed to relaying a next hop's answer). */
const REFUSAL_CODES = new Set([3, 7, 8, 9, 16]); // INVALID_ARGUMENT, PERMISSION_DENIED, RESOURCE_EXHAUSTED, FAILED_PRECONDITION, UNAUTHENTICATED

/**
 * Which of pnsmgr's rules refused a call, from its message: the failed policy in secured mode
 * ("policy tokens_chained failed"), "mtls" for a caller the transport refused, "destination" for the
 * destination guard, "input" for anything else (bounds, grammar, loops, limits).
 */
export function refusalRule(message: string): string {
  const policy = /^policy (\w+) failed/.exec(message)?.[1];
  if (policy) return policy;
  if (message.startsWith("mTLS: ")) return "mtls";
  if (/^dial to .* refused/.test(message)) return "destination";
  return "input";
}

/** Counts a failed served call as a refusal when pnsmgr refused it (a next hop's error says "next hop …"). */
export function noteFailure(method: string, code: number, message: string): void {
  if (current.active && REFUSAL_CODES.has(code) && !message.startsWith("next hop ")) current.refusal(method, code, refusalRule(message));
}
