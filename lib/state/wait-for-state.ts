/**
 * Start-up against a state store that may not be up yet (Redis starting beside the gateway, a
 * Sentinel failover): try to connect, and on failure log what failed and when the next try is, then
 * try again with a doubling pause (0.5 s up to 15 s), until it connects or `timeoutMs` has passed
 * (0: as long as it takes). Without this the gateway waited 10 s silently and exited, and Kubernetes
 * restarted it in a loop.
 */
import type { Logger } from "../log.js";
import { type StateOptions, type StateStore, createStateStore } from "./state.js";

export interface WaitForStateOptions {
  log: Logger;
  /** Give up (rejecting with the last error) after this long; 0 never gives up. */
  timeoutMs: number;
  /** How long one try waits for Redis to answer (default 3 s). */
  tryMs?: number;
  firstPauseMs?: number;
  maxPauseMs?: number;
  /** Ends the waiting early (a drain during start-up). */
  signal?: AbortSignal;
}

export async function waitForStateStore(options: StateOptions, wait: WaitForStateOptions): Promise<StateStore> {
  if (options.kind === "memory") return createStateStore(options, { log: wait.log });
  const started = Date.now();
  const tryMs = wait.tryMs ?? 3000;
  let pause = wait.firstPauseMs ?? 500;
  for (let attempt = 1; ; attempt++) {
    try {
      const store = await createStateStore({ ...options, startupTimeoutMs: tryMs }, { log: wait.log });
      if (attempt > 1) wait.log.info("state store reachable", { store: store.description, attempts: attempt, waitedMs: Date.now() - started });
      return store;
    } catch (error: unknown) {
      const waited = Date.now() - started;
      const message = (error as Error).message ?? String(error);
      if (wait.signal?.aborted || (wait.timeoutMs > 0 && waited + pause >= wait.timeoutMs)) {
        wait.log.error("state store not reachable; giving up", { attempts: attempt, waitedMs: waited, error: message });
        throw error;
      }
      wait.log.warn("waiting for the state store", { attempt, waitedMs: waited, retryInMs: pause, error: message });
      await new Promise(resolve => setTimeout(resolve, pause));
      pause = Math.min(pause * 2, wait.maxPauseMs ?? 15_000);
    }
  }
}
