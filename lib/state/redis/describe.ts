/**
 * How the Redis store names itself in logs and errors ("redis host:port", "redis sentinel <name> via
 * <sentinels>", with " (auth, tls)" when on): never a password.
 */
import { type RedisStateOptions, redactUrl } from "../state-store.js";
import { describeSecurity } from "./security.js";

/** Whether the URL asks for TLS (rediss://); TLS files turn it on too (security.ts). */
export function wantsTls(options: RedisStateOptions): boolean {
  return !options.sentinels && (options.url ?? "").startsWith("rediss://");
}

export function describeRedis(options: RedisStateOptions): string {
  return describeAddress(options) + describeSecurity(options.security ?? {}, wantsTls(options));
}

function describeAddress(options: RedisStateOptions): string {
  if (options.sentinels) return `redis sentinel ${options.masterName} via ${options.sentinels.map(s => `${s.host.includes(":") ? `[${s.host}]` : s.host}:${s.port}`).join(",")}`;
  try {
    const url = new URL(options.url ?? "redis://127.0.0.1:6379");
    return `redis ${url.host}${url.port === "" ? ":6379" : ""}`;
  } catch {
    return `redis ${redactUrl(options.url ?? "")}`;
  }
}
