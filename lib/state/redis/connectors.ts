/**
 * ioredis listens for a connection's first 'error' only (stream.once): a TLS socket can emit a second
 * one (an alert from the server, then a reset), which nothing would then handle, and an uncaught
 * 'error' ends the process. These connectors keep a listener on every stream they open; ioredis
 * still sees and reports the first error exactly as before.
 */
import { SentinelConnector, StandaloneConnector } from "ioredis/built/connectors/index.js";
import type { EventEmitter } from "node:events";

// A mixin's base must take `any[]` (TypeScript's rule for class expressions extending a parameter).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyConnector = new (...args: any[]) => { connect(...args: never[]): Promise<EventEmitter> };

function keepingErrorListener<Base extends AnyConnector>(base: Base): Base {
  return class extends base {
    override connect(...args: never[]): Promise<EventEmitter> {
      return super.connect(...args).then(stream => {
        stream.on("error", () => undefined);
        return stream;
      });
    }
  };
}

export const StandaloneConnectorKeepingErrors = keepingErrorListener(StandaloneConnector as unknown as AnyConnector);
export const SentinelConnectorKeepingErrors = keepingErrorListener(SentinelConnector as unknown as AnyConnector);
