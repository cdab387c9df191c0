/**
 * The proxy's state, in one place: learned routes, connection records, the monitor event log,
 * monitor feeds (upstream monitor subscriptions any replica can take over, with their snapshots) and
 * replica liveness/leases. The in-memory store (memory/) is the embedded default (one replica); the
 * Redis store (redis/) shares the same state across replicas. Both pass one contract suite
 * (spec/integration/state/contract.ts). This file reads the options and picks one.
 *
 * Choice by environment (stateOptionsFromEnv): REDIS_URL or PNSMGR_REDIS_SENTINELS selects Redis,
 * otherwise memory. Every call that needs state and cannot reach it fails with UNAVAILABLE.
 */
import { ConfigError, parseDurationOrMs, parseWholeNumber } from "../config-values.js";
import { parseHostPort } from "../domains/address.js";
import type { Logger } from "../log.js";
import { type EventLogBounds, defaultEventLogBounds } from "./event-log.js";
import { createMemoryStateStore } from "./memory/memory-store.js";
import { REDIS_SECURITY_ENV, redisSecurityFromEnv } from "./redis/security.js";
import { type SentinelAddress, type StateOptions, type StateStore, redactUrl } from "./state-store.js";

export type { MemoryStateOptions, RedisStateOptions, SentinelAddress, StateOptions, StateStore } from "./state-store.js";
export { redactUrl };
// The embedded store, for whoever wants one without options (tests, tools).
export { type MemoryStateStoreOptions, createMemoryStateStore } from "./memory/memory-store.js";

type Env = Readonly<Record<string, string | undefined>>;

/** The state options read from the environment (an empty variable means its default). */
export const STATE_ENV = {
  REDIS_URL: "redis://[user:password@]host:port[/db] (or rediss://): keep state in this Redis; unset and no sentinels: in memory",
  PNSMGR_REDIS_SENTINELS: "comma list of Sentinel host:port; Redis via Sentinel (master PNSMGR_REDIS_MASTER_NAME)",
  PNSMGR_REDIS_MASTER_NAME: "Sentinel master name (default mymaster)",
  PNSMGR_REDIS_PREFIX: "prefix of every Redis key (default pnsmgr:)",
  PNSMGR_REDIS_WAIT_REPLICAS: "replicas that must have a connection record before its write is acknowledged (WAIT); default 1 with sentinels, else 0",
  PNSMGR_REDIS_WAIT_TIMEOUT: "how long a connection-record write waits for those replicas (duration or ms; default 1s)",
  PNSMGR_EVENTS_MAX_LEN: "monitor event log: entries kept (default 100000)",
  PNSMGR_EVENTS_MAX_AGE: "monitor event log: entries older than this are trimmed (duration or ms; default 24h)",
  PNSMGR_EVENTS_MAX_BYTES: "in-memory monitor event log: about this many bytes kept, oldest trimmed first (default 67108864)",
  ...REDIS_SECURITY_ENV,
} as const;

/** Reads the state options; a bad value throws a ConfigError naming the variable. */
export function stateOptionsFromEnv(env: Env = process.env): StateOptions {
  const get = (name: keyof typeof STATE_ENV) => {
    const value = env[name];
    return value === undefined || value.trim() === "" ? undefined : value.trim();
  };
  const maxLenText = get("PNSMGR_EVENTS_MAX_LEN");
  const maxAgeText = get("PNSMGR_EVENTS_MAX_AGE");
  const maxBytesText = get("PNSMGR_EVENTS_MAX_BYTES");
  const events: EventLogBounds = {
    ...defaultEventLogBounds,
    maxLen: maxLenText === undefined ? defaultEventLogBounds.maxLen : parseWholeNumber(maxLenText, "PNSMGR_EVENTS_MAX_LEN", 1, 1e9),
    maxAgeMs: maxAgeText === undefined ? defaultEventLogBounds.maxAgeMs : parseDurationOrMs(maxAgeText, "PNSMGR_EVENTS_MAX_AGE"),
    ...(maxBytesText === undefined ? {} : { maxBytes: parseWholeNumber(maxBytesText, "PNSMGR_EVENTS_MAX_BYTES", 1024, 1 << 40) }),
  };
  const url = get("REDIS_URL");
  const sentinelsText = get("PNSMGR_REDIS_SENTINELS");
  if (url === undefined && sentinelsText === undefined) return { kind: "memory", events };
  if (url !== undefined && sentinelsText !== undefined) {
    throw new ConfigError("PNSMGR_REDIS_SENTINELS", sentinelsText, "and REDIS_URL are both set; set one of them");
  }
  if (url !== undefined) checkRedisUrl(url);
  const sentinels = sentinelsText === undefined ? undefined : parseSentinels(sentinelsText);
  const prefix = get("PNSMGR_REDIS_PREFIX") ?? "pnsmgr:";
  if (/\s/.test(prefix)) throw new ConfigError("PNSMGR_REDIS_PREFIX", prefix, "must not contain spaces");
  const waitText = get("PNSMGR_REDIS_WAIT_REPLICAS");
  const waitTimeoutText = get("PNSMGR_REDIS_WAIT_TIMEOUT");
  const security = redisSecurityFromEnv(env);
  return {
    kind: "redis",
    ...(url !== undefined ? { url } : {}),
    ...(sentinels !== undefined ? { sentinels } : {}),
    masterName: get("PNSMGR_REDIS_MASTER_NAME") ?? "mymaster",
    prefix,
    events,
    waitReplicas: waitText === undefined ? (sentinels ? 1 : 0) : parseWholeNumber(waitText, "PNSMGR_REDIS_WAIT_REPLICAS", 0, 16),
    waitTimeoutMs: waitTimeoutText === undefined ? 1000 : parseDurationOrMs(waitTimeoutText, "PNSMGR_REDIS_WAIT_TIMEOUT"),
    ...(Object.keys(security).length > 0 ? { security } : {}),
  };
}

/**
 * The store the options ask for. The Redis store is connected when this resolves; it rejects with
 * UNAVAILABLE when Redis is not reachable within startupTimeoutMs (10 s by default).
 */
export async function createStateStore(options: StateOptions, deps: { log?: Logger } = {}): Promise<StateStore> {
  if (options.kind === "memory") return createMemoryStateStore({ events: options.events });
  // Loaded only when asked for, so that the embedded default never loads ioredis.
  const { createRedisStateStore } = await import("./redis/redis-store.js");
  return createRedisStateStore(options, deps);
}

function checkRedisUrl(value: string): void {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError("REDIS_URL", redactUrl(value), "is not a URL like redis://host:6379");
  }
  if (url.protocol !== "redis:" && url.protocol !== "rediss:") throw new ConfigError("REDIS_URL", redactUrl(value), "must start with redis:// or rediss://");
  if (url.hostname === "") throw new ConfigError("REDIS_URL", redactUrl(value), "needs a host");
  if (url.pathname !== "" && url.pathname !== "/" && !/^\/\d+$/.test(url.pathname)) {
    throw new ConfigError("REDIS_URL", redactUrl(value), "path must be a database number (/0)");
  }
}

function parseSentinels(value: string): SentinelAddress[] {
  return value.split(",").map(part => {
    const text = part.trim();
    try {
      const { host, port } = parseHostPort(text, "sentinel");
      if (host === "") throw new Error("needs a host");
      return { host, port };
    } catch (error: unknown) {
      throw new ConfigError("PNSMGR_REDIS_SENTINELS", value, `${JSON.stringify(text)} is not host:port (${(error as Error).message})`);
    }
  });
}
