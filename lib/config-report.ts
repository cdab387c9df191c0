/**
 * What start-up tells the operator about its configuration: the effective configuration once, with
 * secrets redacted (any field named like password/secret/token/key, and the userinfo of URLs such as
 * REDIS_URL), and the NSM_*, PNSMGR_* and PROXY_NSMD_* variables it does not know, by name (a typo
 * would otherwise be silently ignored). The known set is every option in OPTIONS, the state options
 * (STATE_ENV) and the few variables read elsewhere (EXTRA_KNOWN).
 */
import { OPTIONS } from "./config.js";
import { STATE_ENV } from "./state/state.js";

/** Variables with our prefixes that are read outside OPTIONS/STATE_ENV (add yours here). */
export const EXTRA_KNOWN: readonly string[] = [];

const PREFIXES = ["NSM_", "PNSMGR_", "PROXY_NSMD_"];

export function knownVariables(): Set<string> {
  return new Set<string>([...OPTIONS.map(option => option.env), ...Object.keys(STATE_ENV), ...EXTRA_KNOWN]);
}

/** Set variables with one of our prefixes that nothing reads, sorted. */
export function unknownVariables(env: Readonly<Record<string, string | undefined>>, known: Set<string> = knownVariables()): string[] {
  return Object.keys(env)
    .filter(name => PREFIXES.some(prefix => name.startsWith(prefix)) && !known.has(name))
    .sort();
}

const SECRET_NAME = /password|passwd|secret|token(?!lifetime)|credential|apikey|api_key|privatekey|private_key/i;

/** A copy of `value` with secret-named fields replaced by "***" and URL userinfo passwords hidden; walks objects and arrays. */
export function redact(value: unknown, name = ""): unknown {
  if (typeof value === "string") return SECRET_NAME.test(name) ? "***" : redactUserinfo(value);
  if (Array.isArray(value)) return value.map(item => redact(item, name));
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) out[key] = SECRET_NAME.test(key) && item !== undefined ? "***" : redact(item, key);
    return out;
  }
  return value;
}

/** scheme://user:password@host → scheme://user:***@host (also scheme://:password@host and scheme://token@host). */
export function redactUserinfo(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)([^@/\s]*)@/gi, (_, scheme: string, userinfo: string) => {
    const colon = userinfo.indexOf(":");
    return colon < 0 ? `${scheme}***@` : `${scheme}${userinfo.slice(0, colon)}:***@`;
  });
}
