/**
 * Waiting in tests on real time (not a test file): poll a condition until it holds, bound a promise by
 * a time limit, and sleep where a test must let time pass to see that nothing happens. Unit tests of
 * timers use spec/support/clock.ts (a fake clock) instead.
 */

export interface WaitOptions {
  /** How often the condition is asked; default 10 ms. */
  readonly everyMs?: number;
  /** Errors the condition may throw meanwhile (a server not up yet): "not yet", the last named on timeout. Any other error ends the wait. */
  readonly tolerate?: (error: unknown) => boolean;
  /** Appended to the error on failure (e.g. the log tail of the process waited for). */
  readonly diagnostics?: () => string;
}

/** Resolves once `condition` holds; throws after `timeoutMs` naming `what`. */
export async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs = 5000, what = "condition", options: WaitOptions = {}): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const withDiagnostics = (message: string) => (options.diagnostics ? `${message}\n${options.diagnostics()}` : message);
  let tolerated: unknown;
  for (;;) {
    try {
      if (await condition()) return;
    } catch (error: unknown) {
      if (!options.tolerate?.(error)) throw options.diagnostics ? new Error(withDiagnostics(String(error instanceof Error ? error.message : error))) : error;
      tolerated = error;
    }
    if (Date.now() > deadline) throw new Error(withDiagnostics(`timed out after ${timeoutMs} ms waiting for ${what}${tolerated === undefined ? "" : `: ${String(tolerated)}`}`));
    await sleep(options.everyMs ?? 10);
  }
}

/** `promise`, or a rejection naming `what` if it has not settled within `ms`. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
    }),
  ]);
}

/** Lets real time pass: only where a test shows that nothing happens meanwhile, or paces real I/O. */
export const sleep = (ms: number) => new Promise<void>(resolve => setTimeout(resolve, ms));
