/**
 * Failed calls, logged at warn, at most once per (method, code) every `windowMs` with a count of the
 * ones in between. NSM's registries turn a failed interdomain Find into an empty answer, so without
 * this an operator would never see why a remote service cannot be found.
 */
import type { Logger } from "./log.js";
import { Code, type ProxyError } from "./pipeline/errors.js";

export function createFailureLog(log: Logger, windowMs = 10_000, now: () => number = Date.now): (method: string, error: ProxyError) => void {
  const last = new Map<string, { at: number; suppressed: number }>();
  return (method, error) => {
    const key = `${method} ${error.code}`;
    const seen = last.get(key);
    const at = now();
    if (seen && at - seen.at < windowMs) {
      seen.suppressed++;
      return;
    }
    const fields: Record<string, unknown> = { method, code: Code[error.code] ?? error.code, error: error.message };
    if (seen && seen.suppressed > 0) fields.suppressed = seen.suppressed;
    last.set(key, { at, suppressed: 0 });
    if (last.size > 1000) last.delete(last.keys().next().value as string);
    log.warn("call failed", fields);
  };
}
