/**
 * `pnsmgr events` flags: what to replay (connection, peer, time range, position, limit), whether to
 * follow, how to print, and where to read (a Redis store directly, or a gateway's admin service).
 * Pure: no I/O, the environment and the clock are passed in. A bad flag is a CliError naming it.
 */
import { isIP } from "node:net";
import { ConfigError } from "../config-values.js";
import { parseHostPort } from "../domains/address.js";
import { parsePosition } from "../state/event-log.js";
import { type RedisStateOptions, redactUrl, stateOptionsFromEnv } from "../state/state.js";
import type { EventsRequest } from "../admin/query-events.js";

/** A usage error: one line for stderr, and the exit code (2). */
export class CliError extends Error {
  override readonly name = "CliError";
  constructor(
    message: string,
    readonly exitCode = 2,
  ) {
    super(message);
  }
}

/** The gateway's admin listener (PNSMGR_ADMIN_LISTEN_ON's default). */
export const DEFAULT_GATEWAY = "127.0.0.1:5007";

export type EventsSource =
  | { readonly kind: "gateway"; readonly address: string }
  | { readonly kind: "redis"; readonly options: RedisStateOptions };

export interface EventsOptions {
  readonly request: EventsRequest;
  readonly json: boolean;
  /** Draw the connection's life in the terminal (timeline.ts) instead of printing lines. */
  readonly timeline?: boolean;
  /** Write the connection's life as an SVG to this file (timeline-svg.ts). */
  readonly svg?: string;
  readonly source: EventsSource;
}

export type EventsCommand = { readonly help: true } | { readonly help: false; readonly options: EventsOptions };

export const EVENTS_USAGE = `usage: pnsmgr events [flags]

Replays the monitor events that crossed the proxy, oldest first.

what:
  --connection ID     only events about this connection id
  --peer ADDR         only events from this remote NSMgr / next hop (host:port)
  --from TIME         appended at or after TIME: RFC3339 (2024-05-01T10:00:00Z), a duration ago (10m, 1h30m, 2d) or now
  --to TIME           appended at or before TIME (not with --follow)
  --after POSITION    after this position (<ms>-<seq>, as printed): resume where a reader stopped
  --limit N           at most N events
  --follow            then keep printing events as they happen, until SIGINT/SIGTERM; without
                      --from/--after only new events are printed
how:
  --json              one JSON object per line instead of readable lines
  --timeline          with --connection: draw the connection's life in the terminal, one lane per
                      hop, Request / UPDATE / DOWN / HEAL / DELETE with times and reasons
  --svg FILE          with --connection: write the same picture as an SVG to FILE (open it in a browser)
where (default: REDIS_URL / PNSMGR_REDIS_SENTINELS if set, else the admin listener PNSMGR_ADMIN_LISTEN_ON,
       default ${DEFAULT_GATEWAY}):
  --redis URL         read the Redis stream directly (redis://host:port[/db]; PNSMGR_REDIS_PREFIX applies)
  --gateway ADDRESS   ask a gateway's admin service at its admin listener (host:port or unix:///path;
                      a public listener only with PNSMGR_ADMIN_EVENTS=public); works on the in-memory store

exit codes: 0 done (or stopped by a signal), 1 source unreachable or lost, 2 bad flags`;

const VALUE_FLAGS = ["connection", "peer", "from", "to", "after", "limit", "redis", "gateway", "svg"] as const;
const BOOLEAN_FLAGS = ["follow", "json", "help", "timeline"] as const;
type ValueFlag = (typeof VALUE_FLAGS)[number];
type BooleanFlag = (typeof BOOLEAN_FLAGS)[number];

type Env = Readonly<Record<string, string | undefined>>;

export function parseEventsArgs(args: readonly string[], env: Env, now: number): EventsCommand {
  const values = new Map<ValueFlag, string>();
  const flags = new Set<BooleanFlag>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? "";
    if (arg === "-h") {
      flags.add("help");
      continue;
    }
    if (!arg.startsWith("--") || arg === "--") throw new CliError(`unexpected argument ${JSON.stringify(arg)} (flags start with --; see --help)`);
    const eq = arg.indexOf("=");
    const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
    const inline = eq < 0 ? undefined : arg.slice(eq + 1);
    if ((BOOLEAN_FLAGS as readonly string[]).includes(name)) {
      if (inline !== undefined) throw new CliError(`--${name} takes no value`);
      flags.add(name as BooleanFlag);
      continue;
    }
    if (!(VALUE_FLAGS as readonly string[]).includes(name)) throw new CliError(`unknown flag --${name} (see --help)`);
    const flag = name as ValueFlag;
    let value = inline;
    if (value === undefined) {
      const next = args[i + 1];
      if (next === undefined || next.startsWith("--")) throw new CliError(`--${flag} needs a value`);
      value = next;
      i++;
    }
    if (values.has(flag)) throw new CliError(`--${flag} is given more than once`);
    if (value.trim() === "") throw new CliError(`--${flag} needs a value`);
    values.set(flag, value.trim());
  }
  if (flags.has("help")) return { help: true };

  const follow = flags.has("follow");
  const from = values.has("from") ? parseTime("from", values.get("from")!, now) : undefined;
  const to = values.has("to") ? parseTime("to", values.get("to")!, now) : undefined;
  if (from !== undefined && to !== undefined && from > to) throw new CliError("--from is later than --to");
  if (follow && to !== undefined) throw new CliError("--to cannot be combined with --follow");
  const after = values.get("after");
  if (after !== undefined) {
    try {
      parsePosition(after);
    } catch {
      throw new CliError(`--after ${JSON.stringify(after)} is not a position like 1714557600000-0`);
    }
  }
  const limitText = values.get("limit");
  const limit = limitText === undefined ? undefined : Number(limitText);
  if (limit !== undefined && !(/^\d+$/.test(limitText!) && Number.isSafeInteger(limit) && limit >= 1 && limit <= 0xffffffff)) {
    throw new CliError(`--limit ${JSON.stringify(limitText)} is not a whole number from 1 to 4294967295`);
  }
  const connectionId = values.get("connection");
  const peer = values.get("peer");
  const timeline = flags.has("timeline");
  const svg = values.get("svg");
  for (const [flag, given] of [["--timeline", timeline], ["--svg", svg !== undefined]] as const) {
    if (!given) continue;
    if (connectionId === undefined) throw new CliError(`${flag} draws one connection: give --connection ID`);
    if (follow) throw new CliError(`${flag} cannot be combined with --follow`);
  }
  if (timeline && flags.has("json")) throw new CliError("--timeline cannot be combined with --json");
  const request: EventsRequest = {
    ...(connectionId !== undefined ? { connectionId } : {}),
    ...(peer !== undefined ? { peer } : {}),
    ...(from !== undefined ? { from } : {}),
    ...(to !== undefined ? { to } : {}),
    ...(after !== undefined ? { after } : {}),
    ...(follow ? { follow } : {}),
    ...(limit !== undefined ? { limit } : {}),
  };
  const picture = { ...(timeline ? { timeline } : {}), ...(svg !== undefined ? { svg } : {}) };
  return { help: false, options: { request, json: flags.has("json"), ...picture, source: parseSource(values.get("redis"), values.get("gateway"), env) } };
}

function parseSource(redis: string | undefined, gateway: string | undefined, env: Env): EventsSource {
  if (redis !== undefined && gateway !== undefined) throw new CliError("--redis and --gateway cannot be combined; give one source");
  if (gateway !== undefined) return { kind: "gateway", address: gatewayAddress(gateway) };
  if (redis !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(redis);
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== "redis:" && url.protocol !== "rediss:") || url.hostname === "") {
      throw new CliError(`--redis ${JSON.stringify(redactUrl(redis))} is not a URL like redis://127.0.0.1:6379`);
    }
    return { kind: "redis", options: redisOptions({ ...env, REDIS_URL: redis, PNSMGR_REDIS_SENTINELS: undefined }, "--redis") };
  }
  const fromEnv = redisOptionsFromEnv(env);
  if (fromEnv) return { kind: "redis", options: fromEnv };
  const adminListen = env["PNSMGR_ADMIN_LISTEN_ON"];
  return { kind: "gateway", address: adminListen ? gatewayAddress(adminListen.replace(/^(0\.0\.0\.0)?:/, "127.0.0.1:").replace(/^\[::\]:/, "[::1]:")) : DEFAULT_GATEWAY };
}

/** The Redis the environment names (REDIS_URL / PNSMGR_REDIS_SENTINELS), if any. */
function redisOptionsFromEnv(env: Env): RedisStateOptions | undefined {
  try {
    const options = stateOptionsFromEnv(env);
    return options.kind === "redis" ? options : undefined;
  } catch (error: unknown) {
    if (error instanceof ConfigError) throw new CliError(error.message);
    throw error;
  }
}

function redisOptions(env: Env, flag: string): RedisStateOptions {
  try {
    const options = stateOptionsFromEnv(env);
    if (options.kind !== "redis") throw new CliError(`${flag} needs a value`);
    return options;
  } catch (error: unknown) {
    if (error instanceof ConfigError) throw new CliError(error.env === "REDIS_URL" ? `${flag}: ${error.message.replace(/^REDIS_URL=/, "")}` : error.message);
    throw error;
  }
}

function gatewayAddress(value: string): string {
  if (/^unix:(\/\/)?\/./.test(value)) return value;
  const bare = value.replace(/^tcp:\/\//, "");
  try {
    const { host, port } = parseHostPort(bare, "--gateway");
    if (host === "") throw new Error("no host");
    return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
  } catch {
    throw new CliError(`--gateway ${JSON.stringify(value)} is not host:port or unix:///path (e.g. 127.0.0.1:5007)`);
  }
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * A time flag as epoch ms: RFC3339 with a zone ("2024-05-01T10:00:00Z", "…+02:00"), a duration ago
 * ("10m" is ten minutes before `now`; units ms, s, m, h, d, combinable as in "1h30m"), or "now".
 */
export function parseTime(flag: string, text: string, now: number): number {
  if (text === "now") return now;
  if (RFC3339.test(text)) {
    const ms = Date.parse(text.replace(" ", "T"));
    if (Number.isFinite(ms)) return ms;
  }
  const relative = text.startsWith("-") ? text.slice(1) : text;
  const parts = [...relative.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)];
  if (parts.length > 0 && parts.map(p => p[0]).join("") === relative) {
    const ago = parts.reduce((sum, [, n, unit]) => sum + Number(n) * (UNITS[unit ?? ""] ?? NaN), 0);
    if (Number.isFinite(ago)) return Math.max(0, Math.round(now - ago));
  }
  throw new CliError(`--${flag} ${JSON.stringify(text)} is not a time: RFC3339 (2024-05-01T10:00:00Z), a duration ago (10m, 1h30m) or now`);
}
