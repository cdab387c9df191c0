/**
 * Credentials and TLS for the Redis store: an ACL user / password (also in REDIS_URL's userinfo,
 * which wins when present), the Sentinel's own password, and TLS (rediss://, or any of the TLS files)
 * with a CA and a client certificate, for the master and the sentinels alike. Read from the
 * environment next to the other state options; files are checked at start-up and read when the
 * store connects. Nothing here is ever logged: descriptions say only whether auth and TLS are on.
 */
import { accessSync, constants, readFileSync } from "node:fs";
import { ConfigError } from "../../config-values.js";

export interface RedisSecurity {
  /** ACL user (Redis 6+); unset: "default". */
  readonly username?: string;
  readonly password?: string;
  /** Password of the sentinels themselves (their requirepass), distinct from the master's. */
  readonly sentinelPassword?: string;
  /** TLS files (PEM); any of them, or a rediss:// URL, turns TLS on. */
  readonly tls?: { readonly caFile?: string; readonly certFile?: string; readonly keyFile?: string };
}

/** The variables, with what they mean (STATE_ENV lists them too). */
export const REDIS_SECURITY_ENV = {
  PNSMGR_REDIS_USERNAME: "Redis ACL user (REDIS_URL's userinfo wins when it has one)",
  PNSMGR_REDIS_PASSWORD: "Redis password (of the ACL user, or requirepass); never logged",
  PNSMGR_REDIS_SENTINEL_PASSWORD: "password of the sentinels (their requirepass); never logged",
  PNSMGR_REDIS_TLS_CA_FILE: "PEM CA bundle to verify Redis (and sentinels) over TLS; turns TLS on",
  PNSMGR_REDIS_TLS_CERT_FILE: "PEM client certificate for TLS (with PNSMGR_REDIS_TLS_KEY_FILE)",
  PNSMGR_REDIS_TLS_KEY_FILE: "PEM private key of the client certificate",
} as const;

type Env = Readonly<Record<string, string | undefined>>;

export function redisSecurityFromEnv(env: Env): RedisSecurity {
  const get = (name: keyof typeof REDIS_SECURITY_ENV) => {
    const value = env[name];
    return value === undefined || value === "" ? undefined : value;
  };
  const file = (name: keyof typeof REDIS_SECURITY_ENV) => {
    const path = get(name)?.trim();
    if (path === undefined) return undefined;
    try {
      accessSync(path, constants.R_OK);
    } catch (error: unknown) {
      throw new ConfigError(name, path, `cannot be read (${(error as NodeJS.ErrnoException).code ?? "error"})`);
    }
    return path;
  };
  const caFile = file("PNSMGR_REDIS_TLS_CA_FILE");
  const certFile = file("PNSMGR_REDIS_TLS_CERT_FILE");
  const keyFile = file("PNSMGR_REDIS_TLS_KEY_FILE");
  if ((certFile === undefined) !== (keyFile === undefined)) {
    const [name, value] = certFile === undefined ? ["PNSMGR_REDIS_TLS_KEY_FILE", keyFile] : ["PNSMGR_REDIS_TLS_CERT_FILE", certFile];
    throw new ConfigError(name, value ?? "", "needs PNSMGR_REDIS_TLS_CERT_FILE and PNSMGR_REDIS_TLS_KEY_FILE together");
  }
  const username = get("PNSMGR_REDIS_USERNAME")?.trim();
  const password = get("PNSMGR_REDIS_PASSWORD");
  const sentinelPassword = get("PNSMGR_REDIS_SENTINEL_PASSWORD");
  const tls = caFile ?? certFile ?? keyFile ? { ...(caFile ? { caFile } : {}), ...(certFile ? { certFile } : {}), ...(keyFile ? { keyFile } : {}) } : undefined;
  return { ...(username ? { username } : {}), ...(password ? { password } : {}), ...(sentinelPassword ? { sentinelPassword } : {}), ...(tls ? { tls } : {}) };
}

/** ioredis options for these settings; `tlsWanted` when the URL says rediss://. */
export function redisSecurityOptions(security: RedisSecurity, sentinel: boolean, tlsWanted: boolean): Record<string, unknown> {
  const files = security.tls ?? {};
  const useTls = tlsWanted || security.tls !== undefined;
  const tls = useTls
    ? {
        ...(files.caFile ? { ca: readFileSync(files.caFile) } : {}),
        ...(files.certFile ? { cert: readFileSync(files.certFile) } : {}),
        ...(files.keyFile ? { key: readFileSync(files.keyFile) } : {}),
      }
    : undefined;
  return {
    ...(security.username ? { username: security.username } : {}),
    ...(security.password ? { password: security.password } : {}),
    ...(tls ? { tls } : {}),
    ...(sentinel && security.sentinelPassword ? { sentinelPassword: security.sentinelPassword } : {}),
    ...(sentinel && tls ? { sentinelTLS: tls, enableTLSForSentinelMode: true } : {}),
  };
}

/** " (auth, tls)" and the like, for the store's description. */
export function describeSecurity(security: RedisSecurity, tlsWanted: boolean): string {
  const parts = [...(security.password || security.username ? ["auth"] : []), ...(tlsWanted || security.tls ? ["tls"] : [])];
  return parts.length === 0 ? "" : ` (${parts.join(", ")})`;
}
