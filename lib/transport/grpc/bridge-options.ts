/**
 * What a server bridge shares across the calls of one server: the open streams (so a drain can end
 * them at once with UNAVAILABLE, letting peers re-route or heal instead of waiting out the grace
 * period), a report of failed calls, the queue bound for slow readers and the streams-per-peer cap.
 */
import type { PeerCertificate } from "node:tls";
import type { ProxyError } from "../../pipeline/errors.js";
import type { TlsPeer } from "../../pipeline/context.js";
import type { PeerLimit } from "../../pipeline/peer-limit.js";

export interface OpenStreams {
  /** Registers a stream's way to end itself; the returned function unregisters it. */
  add(end: (error: ProxyError) => void): () => void;
  /** Ends every open stream with `error`. */
  endAll(error: ProxyError): void;
  size(): number;
}

export function createOpenStreams(): OpenStreams {
  const ends = new Set<(error: ProxyError) => void>();
  return {
    add(end) {
      ends.add(end);
      return () => ends.delete(end);
    },
    endAll(error) {
      for (const end of [...ends]) end(error);
      ends.clear();
    },
    size: () => ends.size,
  };
}

export interface BridgeOptions {
  readonly streams?: OpenStreams;
  /** Called with every call that ends in an error (method path, the error). */
  readonly onFailure?: (method: string, error: ProxyError) => void;
  /** Messages a stream may queue for a caller that does not read (default MAX_QUEUED_MESSAGES). */
  readonly maxQueued?: number;
  /**
   * mTLS listeners: verifies the caller's certificate (throwing a ProxyError, e.g. PERMISSION_DENIED)
   * before any handler runs; the verified peer goes into the call context.
   */
  readonly tlsPeer?: (cert: PeerCertificate | undefined) => TlsPeer;
  /** Open streams per peer address; a stream past it ends at once with RESOURCE_EXHAUSTED. */
  readonly streamsPerPeer?: PeerLimit;
}
