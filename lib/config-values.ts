/** The error a bad setting raises, and value parsers shared by config.ts and the state options. */

export class ConfigError extends Error {
  override readonly name = "ConfigError";
  constructor(
    readonly env: string,
    readonly value: string,
    reason: string,
  ) {
    super(`${env}=${JSON.stringify(value)} ${reason}`);
  }
}

/** Go's time.Duration text: "10m", "1h30m", "500ms", "45s". */
export function parseDuration(value: string, env: string): number {
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const parts = [...value.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
  const total = parts.reduce((sum, [, n, unit]) => sum + Number(n) * (units[unit ?? ""] ?? NaN), 0);
  if (parts.length === 0 || parts.map(p => p[0]).join("") !== value || !(total > 0)) {
    throw new ConfigError(env, value, "is not a duration like 10m, 90s or 1h30m");
  }
  return total;
}


/** A whole number from min to max. */
export function parseWholeNumber(value: string, env: string, min: number, max: number): number {
  const n = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!(n >= min && n <= max)) throw new ConfigError(env, value, `is not a whole number from ${min} to ${max}`);
  return n;
}

/** A Go-style duration ("90s", "24h", "1h30m") or a whole number of milliseconds from 1 to maxMs. */
export function parseDurationOrMs(value: string, env: string, maxMs = Number.MAX_SAFE_INTEGER): number {
  if (/^\d+$/.test(value)) return parseWholeNumber(value, env, 1, maxMs);
  return Math.round(parseDuration(value, env));
}
