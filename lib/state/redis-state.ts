/**
 * The Redis state store (ioredis; the only file that imports it). State is shared by every replica
 * pointed at the same Redis and key prefix.
 *
 * Key layout (prefix "pnsmgr:" by default):
 *   <prefix>connections     hash    connection id -> ConnectionRecord as JSON
 *   <prefix>v1-connections  hash    our v1 path segment id -> V1ConnectionRecord as JSON
 *   <prefix>routes          hash    NSE name -> next hop URL
 *   <prefix>events          stream  monitor event log; fields c (connection ids, JSON), p (peer),
 *                                   t (type), d (payload, JSON), a (at, epoch ms), and only when
 *                                   given f (feed key), w (wire: the event as delivered, base64)
 *                                   and e (end: why it went DOWN / was deleted, JSON; older
 *                                   entries have none and read as before)
 *   <prefix>events-trimmed  string  position of the newest entry ever trimmed from the log (absent:
 *                                   none ever was); kept by the append scripts, which trim
 *   <prefix>feeds           hash    feed key -> spec (opaque JSON text)
 *   <prefix>feed-touched    hash    feed key -> when a client stream last touched it (server clock, ms)
 *   <prefix>feed-snapshots  hash    feed key -> {"position": "<ms>-<seq>", "state": "..."} as JSON
 *   <prefix>replicas        zset    replica id scored by its heartbeat's expiry (server clock, ms)
 *   <prefix>lease:<key>     string  holder replica id, with a PX expiry; a feed's lease is
 *                                   <prefix>lease:feed:<feed key> (feedLease)
 *
 * Every write that touches more than one key, or needs the server clock, is one Lua script (atomic):
 * an event append (XADD, trimming, events-trimmed), a feed's fenced append (lease check, XADD,
 * trimming, snapshot), feed register / touch / list / remove-if-idle, heartbeats and leases.
 *
 * Following the log: one shared tail per store serves every follower. It is one XREAD BLOCK loop on
 * one dedicated connection (client name "pnsmgr-follow"), started with the first follower, reading
 * from the end of the log as it starts and handing each entry, in order, to every follower whose
 * filter it matches; it stops when the last follower leaves (a later follower starts a new one). A
 * follower joins the tail at its current cursor C and catches up on the main connection: with
 * `after` before C, it is first given the entries in (after, C] (XRANGE, paged), then what the tail
 * dispatched to it meanwhile, then live entries: no gap, no duplicate. Without `after`, it starts at
 * the log's newest position as read (XREVRANGE) once the tail runs. When the tail's connection fails,
 * every follower errors with UNAVAILABLE and the tail is gone; store close completes every follower.
 * So the store holds at most one follow connection, however many followers there are.
 *
 * Failure behaviour: no offline queue and no retry of commands across reconnects, so a call made
 * while Redis is unreachable fails at once, a call in flight when the connection drops fails when it
 * drops, and a call with no reply fails after commandTimeoutMs: always ProxyError UNAVAILABLE
 * "state store (redis …): …". Reconnects are tried every 100-250 ms, so calls succeed again within
 * a fraction of a second of Redis returning. With Sentinel, the failover detector follows
 * +switch-master, and a READONLY reply (talking to a demoted master) forces a reconnect.
 *
 * Durability: with waitReplicas > 0, a connection-record write (seed or v1, put or delete) is acknowledged only
 * after WAIT reports that many replicas have it; otherwise the call fails with UNAVAILABLE (the write
 * may still be on the master). That is what lets an acknowledged record survive the master being
 * killed and a replica promoted. The price: every record write costs a replica round trip, and while
 * no replica is connected, Requests fail after waitTimeoutMs instead of being accepted. WAIT is not
 * consensus: a partition can still lose acknowledged writes (Jepsen); with one replica per master
 * and Sentinel it covers the crash of the master. Routes and events are written without WAIT (a
 * route is learned again on the next Find/Register; losing the tail of the event log on failover is
 * accepted). Feed specs, touch times and snapshots are written without WAIT too.
 */
import { SentinelConnectorKeepingErrors, StandaloneConnectorKeepingErrors } from "./redis-connectors.js";
import { createHash } from "node:crypto";
import { Observable, type Subscriber } from "rxjs";
import { type ChainableCommander, Redis, type RedisOptions } from "ioredis";
import { Code, ProxyError, unavailable } from "../pipeline/errors.js";
import { silentLogger, type Logger } from "../log.js";
import { observer } from "../observability/observer.js";
import type { ConnectionRecord, ConnectionStore } from "./connection-store.js";
import type { RouteStore } from "./route-store.js";
import { type V1ConnectionRecord, type V1ConnectionStore, STALE_V1_RECORD_MS, checkV1Record, isV1Record } from "./v1-connection-store.js";
import {
  type EventEntry,
  type EventFilter,
  type EventLog,
  type EventQuery,
  type EventInput,
  type EventEnd,
  DEFAULT_READ_LIMIT,
  TRIM_SLACK,
  checkBounds,
  checkEvent,
  checkQuery,
  comparePositions,
  encodePayload,
  matchesFilter,
  isEventEnd,
  parsePosition,
} from "./event-log.js";
import { type ReplicaRegistry, checkId, checkTtl } from "./replica-registry.js";
import { type FeedSnapshot, type FeedStore, checkFeedKey, checkIdleMs, checkText, feedEvent, feedLease } from "./feed-store.js";
import { type RedisStateOptions, type StateStore, redactUrl } from "./state-store.js";
import { describeSecurity, redisSecurityOptions } from "./redis-security.js";

export interface RedisStateDeps {
  readonly log?: Logger;
}

/** Entries fetched per XRANGE page when filtering or reading a follower's backlog, and per XREAD of the follow tail. */
const PAGE = 500;
/** How long one XREAD of the follow tail blocks before it looks again (also bounds shutdown). */
const BLOCK_MS = 1000;
/** The client name (CLIENT SETNAME) of the follow tail's connection; the other connections are "pnsmgr". */
export const FOLLOW_CONNECTION_NAME = "pnsmgr-follow";
/** Entries one append trims by length at most (see TRIM). */
const TRIM_MAX_BATCH = 1000;

const NOW_MS = "local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) ";

/**
 * Trims the log (stream `log`) after an append and records the newest trimmed position in `mark`.
 * Trimming is exact (to the entry) so that the newest trimmed position is known: by length, once the
 * log holds more than maxLen (+ TRIM_SLACK in approximate mode "~", so that it is done in batches);
 * by age, at every append (XREVRANGE finds the newest entry older than the bound: O(log n)). Finding
 * the newest entry trimmed by length reads the entries trimmed, so one append trims at most
 * TRIM_MAX_BATCH by length: a log far over maxLen (maxLen lowered) shrinks over the next appends
 * rather than blocking Redis for one long script.
 */
const TRIM = `
local function trim(log, mark, maxlen, maxage, mode, now)
  local through = false
  local len = redis.call('XLEN', log)
  local slack = 0
  if mode == '~' then slack = ${TRIM_SLACK} end
  if len > maxlen + slack then
    -- The entries to trim and the first to keep (there is one: maxlen >= 1).
    local n = math.min(len - maxlen, ${TRIM_MAX_BATCH})
    local head = redis.call('XRANGE', log, '-', '+', 'COUNT', n + 1)
    through = head[n][1]
    redis.call('XTRIM', log, 'MINID', head[n + 1][1])
  end
  local minid = now - maxage
  if minid > 0 then
    local older = redis.call('XREVRANGE', log, string.format('%d-18446744073709551615', minid - 1), '-', 'COUNT', 1)
    if older[1] then
      through = older[1][1]
      redis.call('XTRIM', log, 'MINID', string.format('%d-0', minid))
    end
  end
  if through then redis.call('SET', mark, through) end
end
`;

/** KEYS: events, events-trimmed. ARGV: maxLen, maxAgeMs, mode, then the entry's fields. */
const APPEND = script(`${NOW_MS}${TRIM}
local args = {'XADD', KEYS[1], '*'}
for i = 4, #ARGV do args[#args + 1] = ARGV[i] end
local id = redis.call(unpack(args))
trim(KEYS[1], KEYS[2], tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], now)
return id`);

/**
 * A feed's fenced append. KEYS: events, events-trimmed, the feed's lease, feed-snapshots. ARGV:
 * maxLen, maxAgeMs, mode, holder, feed key, state (as a JSON string; '' keeps the snapshot), then the entry's fields.
 * Returns the position, or nil (nothing written) when the lease is not the holder's.
 */
const FEED_APPEND = script(`${NOW_MS}${TRIM}
if redis.call('GET', KEYS[3]) ~= ARGV[4] then return false end
local args = {'XADD', KEYS[1], '*'}
for i = 7, #ARGV do args[#args + 1] = ARGV[i] end
local id = redis.call(unpack(args))
trim(KEYS[1], KEYS[2], tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], now)
if ARGV[6] ~= '' then redis.call('HSET', KEYS[4], ARGV[5], '{"position":"' .. id .. '","state":' .. ARGV[6] .. '}') end
return id`);

/** KEYS: feeds, feed-touched. ARGV: key, spec. */
const FEED_REGISTER = script(`${NOW_MS}
redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], string.format('%d', now))
return 1`);

/** KEYS: feeds, feed-touched. ARGV: the keys to touch (unregistered ones are skipped). */
const FEED_TOUCH = script(`${NOW_MS}
local stamp = string.format('%d', now)
for i = 1, #ARGV do
  if redis.call('HEXISTS', KEYS[1], ARGV[i]) == 1 then redis.call('HSET', KEYS[2], ARGV[i], stamp) end
end
return 1`);

/** KEYS: feeds, feed-touched. Returns key, spec, idle ms, key, spec, idle ms, ... */
const FEED_LIST = script(`${NOW_MS}
local all = redis.call('HGETALL', KEYS[1])
local out = {}
for i = 1, #all, 2 do
  local touched = tonumber(redis.call('HGET', KEYS[2], all[i]) or now) or now
  out[#out + 1] = all[i]
  out[#out + 1] = all[i + 1]
  out[#out + 1] = math.max(0, now - touched)
end
return out`);

/** KEYS: feeds, feed-touched, feed-snapshots. ARGV: key, idle ms ('' for none). 1 when removed. */
const FEED_REMOVE = script(`${NOW_MS}
if ARGV[2] ~= '' then
  local touched = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '')
  if touched and now - touched < tonumber(ARGV[2]) then return 0 end
end
local n = redis.call('HDEL', KEYS[1], ARGV[1]) + redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
if n > 0 then return 1 end
return 0`);

const HEARTBEAT = script(`${NOW_MS}
redis.call('ZADD', KEYS[1], string.format('%d', now + tonumber(ARGV[2])), ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%d', now))
return 1`);

const ALIVE = script(`${NOW_MS}
return redis.call('ZRANGEBYSCORE', KEYS[1], string.format('(%d', now), '+inf')`);

const ACQUIRE = script(`local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if v then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`);

const RENEW = script(`if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
return 0`);

const RELEASE = script(`if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) return 1 end
return 0`);

export async function createRedisStateStore(options: RedisStateOptions, deps: RedisStateDeps = {}): Promise<StateStore> {
  const log = deps.log ?? silentLogger;
  const bounds = options.events;
  checkBounds(bounds);
  const connectTimeoutMs = options.connectTimeoutMs ?? 1000;
  const commandTimeoutMs = options.commandTimeoutMs ?? 1000;
  const startupTimeoutMs = options.startupTimeoutMs ?? 10_000;
  const description = describe(options);
  const key = {
    connections: `${options.prefix}connections`,
    v1Connections: `${options.prefix}v1-connections`,
    routes: `${options.prefix}routes`,
    events: `${options.prefix}events`,
    eventsTrimmed: `${options.prefix}events-trimmed`,
    feeds: `${options.prefix}feeds`,
    feedTouched: `${options.prefix}feed-touched`,
    feedSnapshots: `${options.prefix}feed-snapshots`,
    replicas: `${options.prefix}replicas`,
    lease: (name: string) => `${options.prefix}lease:${name}`,
  };

  const clientOptions: RedisOptions = {
    connectionName: "pnsmgr",
    // Connections keep an 'error' listener for their whole life (ioredis only takes the first one).
    Connector: (options.sentinels ? SentinelConnectorKeepingErrors : StandaloneConnectorKeepingErrors) as unknown as RedisOptions["Connector"],
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    connectTimeout: connectTimeoutMs,
    commandTimeout: commandTimeoutMs,
    retryStrategy: times => Math.min(100 + 50 * (times - 1), 250),
    reconnectOnError: error => error.message.startsWith("READONLY"),
    ...(options.sentinels
      ? {
          sentinels: options.sentinels.map(s => ({ host: s.host, port: s.port })),
          name: options.masterName,
          role: "master" as const,
          failoverDetector: true,
          sentinelRetryStrategy: (times: number) => Math.min(100 + 50 * (times - 1), 250),
        }
      : {}),
    ...redisSecurityOptions(options.security ?? {}, options.sentinels !== undefined, wantsTls(options)),
  };

  let closed = false;
  const lastError = new WeakMap<Redis, string>();
  const ending = new WeakSet<Redis>();
  /** Logs a connection's loss and return (once per outage, not per retry). */
  const watch = (client: Redis, role: string) => {
    let wasReady = false;
    let lost = false;
    client.on("error", (error: Error) => lastError.set(client, error.message));
    client.on("ready", () => {
      if (lost) log.info("state store reconnected", { store: description, connection: role });
      wasReady = true;
      lost = false;
    });
    client.on("close", () => {
      if (!wasReady || lost || closed || ending.has(client)) return;
      lost = true;
      log.warn("state store connection lost", { store: description, connection: role, error: lastError.get(client) ?? "closed" });
    });
    return client;
  };
  const end = (client: Redis) => {
    ending.add(client);
    client.disconnect();
  };

  const main = watch(options.url !== undefined && !options.sentinels ? new Redis(options.url, clientOptions) : new Redis(clientOptions), "main");
  // WAIT blocks the connection it runs on, so durable writes get their own (reads are not held up).
  const durable =
    options.waitReplicas > 0 ? watch(main.duplicate({ commandTimeout: options.waitTimeoutMs + commandTimeoutMs }), "durable") : undefined;
  const clients = [main, ...(durable ? [durable] : [])];
  try {
    await Promise.all(clients.map(client => whenReady(client, startupTimeoutMs, lastError)));
  } catch (error: unknown) {
    for (const client of clients) end(client);
    throw fail("connect", error);
  }

  function fail(what: string, error: unknown, client: Redis = main): ProxyError {
    if (error instanceof ProxyError) return error;
    let message = error instanceof Error ? error.message : String(error);
    if (closed) message = "store closed";
    else if (client.status !== "ready") message = `not connected (${client.status}${lastError.has(client) ? `: ${lastError.get(client)}` : ""}): ${message}`;
    return unavailable(`state store (${description}): ${what}: ${message}`, error);
  }

  async function guard<T>(what: string, call: () => Promise<T>, client: Redis = main): Promise<T> {
    const watched = observer().active ? performance.now() : undefined;
    try {
      const result = await call();
      if (watched !== undefined) observer().stateCommand((performance.now() - watched) / 1000, true);
      return result;
    } catch (error: unknown) {
      if (watched !== undefined) observer().stateCommand((performance.now() - watched) / 1000, false);
      throw fail(what, error, client);
    }
  }

  /**
   * A connection-record write. With waitReplicas, the write and its WAIT go in one pipeline: one
   * round trip, and the write is acknowledged only once that many replicas have it.
   */
  async function durableWrite(what: string, add: (pipeline: ChainableCommander) => ChainableCommander): Promise<void> {
    const client = durable ?? main;
    await guard(
      what,
      async () => {
        const pipeline = add(client.pipeline());
        if (durable) pipeline.wait(options.waitReplicas, options.waitTimeoutMs);
        const results = (await pipeline.exec()) ?? [];
        for (const [error] of results) if (error) throw error;
        if (!durable) return;
        const acked = Number(results.at(-1)?.[1] ?? 0);
        if (acked < options.waitReplicas) {
          throw new Error(
            `only ${acked} of ${options.waitReplicas} replica(s) acknowledged within ${options.waitTimeoutMs} ms (the write is on the master but may be lost on failover)`,
          );
        }
      },
      client,
    );
  }

  const connections: ConnectionStore = {
    put: record => durableWrite(`put connection ${record.id}`, p => p.hset(key.connections, record.id, JSON.stringify(record))),
    async get(id) {
      const json = await guard(`get connection ${id}`, () => main.hget(key.connections, id));
      return json === null ? undefined : parseRecord(json, id);
    },
    delete: id => durableWrite(`delete connection ${id}`, p => p.hdel(key.connections, id)),
    async list() {
      const all = await guard("list connections", () => main.hgetall(key.connections));
      return Object.entries(all).map(([id, json]) => parseRecord(json, id));
    },
  };

  // v1 connection records: one round trip per write (HSET / HDEL, with its WAIT when durable), one HGET / HGETALL per read.
  const v1Connections: V1ConnectionStore = {
    shared: true,
    async put(record) {
      checkV1Record(record);
      await durableWrite(`put v1 connection ${record.id}`, p => p.hset(key.v1Connections, record.id, JSON.stringify(record)));
    },
    async get(id) {
      const json = await guard(`get v1 connection ${id}`, () => main.hget(key.v1Connections, id));
      return json === null ? undefined : parseV1Record(json, id);
    },
    delete: id => durableWrite(`delete v1 connection ${id}`, p => p.hdel(key.v1Connections, id)),
    async list(now = Date.now()) {
      const all = await guard("list v1 connections", () => main.hgetall(key.v1Connections));
      const live: V1ConnectionRecord[] = [];
      const stale: string[] = [];
      for (const [id, json] of Object.entries(all)) {
        let record: V1ConnectionRecord;
        try {
          record = parseV1Record(json, id);
        } catch (error: unknown) {
          // One unreadable record must not hide the others; it is garbage, removed like a stale one.
          log.warn("state store: removing an unreadable v1 connection record", { store: description, id, error: (error as Error).message });
          stale.push(id);
          continue;
        }
        if (record.expires > now) live.push(record);
        else if (record.expires <= now - STALE_V1_RECORD_MS) stale.push(id);
      }
      if (stale.length > 0) await guard("remove stale v1 connections", () => main.hdel(key.v1Connections, ...stale));
      return live;
    },
  };

  const routes: RouteStore = {
    set: (name, url) => guard(`set route ${name}`, () => main.hset(key.routes, name, url)).then(() => undefined),
    get: name => guard(`get route ${name}`, () => main.hget(key.routes, name)).then(url => url ?? undefined),
    delete: name => guard(`delete route ${name}`, () => main.hdel(key.routes, name)).then(() => undefined),
  };

  /**
   * One follower of the shared tail. While it catches up (backlog, start position) the tail puts the
   * matching entries it dispatches in `buffer`; once live it hands them to the subscriber directly.
   */
  interface Follower {
    readonly filter: EventFilter;
    readonly subscriber: Subscriber<EventEntry>;
    /** The tail's cursor when the follower joined: the tail dispatches it every entry after this. */
    from: string | undefined;
    /** Matching entries dispatched while catching up; undefined once live. */
    buffer: EventEntry[] | undefined;
    /** While set, entries at or before it are dropped (already emitted, or before the start). */
    skipThrough: string | undefined;
  }

  /** The one XREAD BLOCK loop of this store, on its own connection, shared by every follower. */
  interface Tail {
    readonly client: Redis;
    readonly followers: Set<Follower>;
    /** The newest position read (the tail dispatches every entry after it); undefined until started. */
    cursor: string | undefined;
    /** Resolves once the cursor is set; rejects when the tail fails before that. */
    readonly started: Promise<void>;
    stopped: boolean;
  }

  /** The running tail; undefined while nobody follows (or once it failed: the next follower starts another). */
  let tail: Tail | undefined;

  function startTail(): Tail {
    const client = watch(main.duplicate({ connectionName: FOLLOW_CONNECTION_NAME, commandTimeout: BLOCK_MS + commandTimeoutMs }), "follower");
    let markStarted!: () => void;
    let failStart!: (error: unknown) => void;
    const started = new Promise<void>((resolve, reject) => {
      markStarted = resolve;
      failStart = reject;
    });
    started.catch(() => {}); // the followers learn of the failure from the tail (failTail)
    const t: Tail = { client, followers: new Set(), cursor: undefined, started, stopped: false };
    (async () => {
      await whenReady(client, connectTimeoutMs + commandTimeoutMs, lastError);
      const newest = (await client.xrevrange(key.events, "+", "-", "COUNT", 1))[0]?.[0] ?? "0-0";
      if (t.stopped) return;
      let cursor: string = newest;
      t.cursor = cursor;
      for (const follower of t.followers) follower.from ??= cursor;
      markStarted();
      while (!t.stopped) {
        const batch = await client.xread("COUNT", PAGE, "BLOCK", BLOCK_MS, "STREAMS", key.events, cursor);
        for (const [id, fields] of batch?.[0]?.[1] ?? []) {
          if (t.stopped) return;
          cursor = id;
          t.cursor = id;
          dispatch(t, decodeEntry(id, fields));
        }
      }
    })().catch((error: unknown) => {
      failStart(error);
      if (!t.stopped) failTail(t, error);
    });
    return t;
  }

  /** Hands an entry (in log order) to every follower of the tail whose filter it matches. */
  function dispatch(t: Tail, entry: EventEntry): void {
    for (const follower of t.followers) {
      if (t.stopped) return;
      if (follower.subscriber.closed) continue;
      if (follower.buffer) {
        if (matchesFilter(entry, follower.filter)) follower.buffer.push(entry);
        continue;
      }
      if (follower.skipThrough !== undefined) {
        if (comparePositions(entry.position, follower.skipThrough) <= 0) continue;
        follower.skipThrough = undefined;
      }
      if (matchesFilter(entry, follower.filter)) follower.subscriber.next(entry);
    }
  }

  function stopTail(t: Tail): void {
    t.stopped = true;
    if (tail === t) tail = undefined;
    end(t.client);
  }

  /** The tail's connection failed: every follower errors with UNAVAILABLE (completes once closed). */
  function failTail(t: Tail, error: unknown): void {
    const failure = closed ? undefined : fail("follow events", error, t.client);
    stopTail(t);
    const followers = [...t.followers];
    t.followers.clear();
    for (const { subscriber } of followers) failure ? subscriber.error(failure) : subscriber.complete();
  }

  function leave(t: Tail, follower: Follower): void {
    t.followers.delete(follower);
    if (t.followers.size === 0 && !t.stopped) stopTail(t);
  }

  /**
   * Brings a follower that joined the tail at its cursor `from` up to it: the entries in (after, from]
   * (XRANGE on the main connection, paged), then those the tail dispatched meanwhile, then live.
   * Without `after`, the start is the end of the log as read once the tail has started (at or after
   * `from`): dispatched entries up to it are dropped.
   */
  async function catchUp(t: Tail, follower: Follower, after: string | undefined): Promise<void> {
    const { subscriber, filter } = follower;
    await t.started;
    if (subscriber.closed) return;
    const from = follower.from!;
    let through: string;
    if (after === undefined) {
      through = (await main.xrevrange(key.events, "+", "-", "COUNT", 1))[0]?.[0] ?? "0-0";
    } else if (comparePositions(after, from) >= 0) {
      through = after; // the tail may still be behind `after`: skip up to it
    } else {
      through = from;
      let start = `(${after}`;
      for (;;) {
        const page = await main.xrange(key.events, start, from, "COUNT", PAGE);
        for (const [id, fields] of page) {
          if (subscriber.closed) return;
          const entry = decodeEntry(id, fields);
          if (matchesFilter(entry, filter)) subscriber.next(entry);
        }
        const last = page.at(-1)?.[0];
        if (page.length < PAGE || last === undefined || last === from) break;
        start = `(${last}`;
      }
    }
    if (subscriber.closed) return;
    // Synchronously from here: no dispatch runs until the follower is live.
    const buffered = follower.buffer ?? [];
    follower.buffer = undefined;
    follower.skipThrough = through;
    for (const entry of buffered) {
      if (subscriber.closed) return;
      if (comparePositions(entry.position, through) > 0) subscriber.next(entry);
    }
  }

  const trimArgs = [bounds.maxLen, bounds.maxAgeMs, bounds.trim === "exact" ? "=" : "~"] as const;

  const events: EventLog = {
    async append(event) {
      checkEvent(event);
      const fields = encodeFields(event);
      return guard("append event", async () => String(await APPEND(main, [key.events, key.eventsTrimmed], [...trimArgs, ...fields])));
    },
    async read(query: EventQuery = {}) {
      checkQuery(query);
      const limit = query.limit ?? DEFAULT_READ_LIMIT;
      let start = rangeStart(query);
      const end = query.to === undefined ? "+" : String(query.to);
      const filtered = query.connectionId !== undefined || query.peer !== undefined || query.feed !== undefined;
      const out: EventEntry[] = [];
      for (;;) {
        const count = filtered ? PAGE : Math.min(limit - out.length, 10 * PAGE);
        const page = await guard("read events", () => main.xrange(key.events, start, end, "COUNT", count));
        for (const [id, fields] of page) {
          const entry = decodeEntry(id, fields);
          if (matchesFilter(entry, query)) out.push(entry);
          if (out.length >= limit) return out;
        }
        const last = page.at(-1);
        if (page.length < count || last === undefined) return out;
        start = `(${last[0]}`;
      }
    },
    follow(query = {}) {
      return new Observable<EventEntry>(subscriber => {
        if (query.after !== undefined) parsePosition(query.after);
        if (closed) throw fail("follow events", new Error("store closed"));
        const t = tail ?? (tail = startTail());
        const follower: Follower = { filter: query, subscriber, from: t.cursor, buffer: [], skipThrough: undefined };
        t.followers.add(follower);
        catchUp(t, follower, query.after).catch((error: unknown) => {
          if (subscriber.closed) return;
          // The tail's own failure has already ended every follower; this is the backlog's (main).
          closed ? subscriber.complete() : subscriber.error(fail("follow events", error));
        });
        return () => leave(t, follower);
      });
    },
    async last() {
      const [newest] = await guard("last event", () => main.xrevrange(key.events, "+", "-", "COUNT", 1));
      return newest?.[0];
    },
    async trimmedThrough() {
      // Set by the append scripts as they trim; it only moves forward (the oldest entries go first).
      return (await guard("events trimmed through", () => main.get(key.eventsTrimmed))) ?? "0-0";
    },
  };

  const feeds: FeedStore = {
    async register(feed, spec) {
      checkFeedKey(feed);
      checkText("feed spec", spec);
      await guard(`register feed ${feed}`, () => FEED_REGISTER(main, [key.feeds, key.feedTouched], [feed, spec]));
    },
    async touch(keys) {
      for (const feed of keys) checkFeedKey(feed);
      if (keys.length === 0) return;
      await guard("touch feeds", () => FEED_TOUCH(main, [key.feeds, key.feedTouched], [...keys]));
    },
    async list() {
      const flat = (await guard("list feeds", () => FEED_LIST(main, [key.feeds, key.feedTouched], []))) as (string | number)[];
      const out: { key: string; spec: string; idleMs: number }[] = [];
      for (let i = 0; i + 2 < flat.length; i += 3) out.push({ key: String(flat[i]), spec: String(flat[i + 1]), idleMs: Number(flat[i + 2]) });
      return out;
    },
    async remove(feed, ifIdleForMs) {
      checkFeedKey(feed);
      checkIdleMs(ifIdleForMs);
      const removed = await guard(`remove feed ${feed}`, () =>
        FEED_REMOVE(main, [key.feeds, key.feedTouched, key.feedSnapshots], [feed, ifIdleForMs === undefined ? "" : ifIdleForMs]),
      );
      return removed === 1;
    },
    async snapshot(feed) {
      checkFeedKey(feed);
      const json = await guard(`feed snapshot ${feed}`, () => main.hget(key.feedSnapshots, feed));
      return json === null ? undefined : parseSnapshot(json, feed);
    },
    async append(feed, holder, event, state) {
      const fields = encodeFields(feedEvent(feed, holder, event, state));
      const position = await guard(`append to feed ${feed}`, () =>
        FEED_APPEND(main, [key.events, key.eventsTrimmed, key.lease(feedLease(feed)), key.feedSnapshots], [...trimArgs, holder, feed, state === undefined ? "" : JSON.stringify(state), ...fields]),
      );
      return position === null || position === undefined ? undefined : String(position);
    },
  };

  const replicas: ReplicaRegistry = {
    async heartbeat(replicaId, ttlMs) {
      checkId("replica id", replicaId);
      checkTtl(ttlMs);
      await guard(`heartbeat ${replicaId}`, () => HEARTBEAT(main, [key.replicas], [replicaId, ttlMs]));
    },
    async remove(replicaId) {
      await guard(`remove replica ${replicaId}`, () => main.zrem(key.replicas, replicaId));
    },
    async alive() {
      const ids = await guard("alive replicas", () => ALIVE(main, [key.replicas], []));
      return (ids as string[]).slice().sort();
    },
    async tryAcquire(name, replicaId, ttlMs) {
      checkId("lease key", name);
      checkId("replica id", replicaId);
      checkTtl(ttlMs);
      return (await guard(`acquire lease ${name}`, () => ACQUIRE(main, [key.lease(name)], [replicaId, ttlMs]))) === 1;
    },
    async renew(name, replicaId, ttlMs) {
      checkTtl(ttlMs);
      return (await guard(`renew lease ${name}`, () => RENEW(main, [key.lease(name)], [replicaId, ttlMs]))) === 1;
    },
    async release(name, replicaId) {
      return (await guard(`release lease ${name}`, () => RELEASE(main, [key.lease(name)], [replicaId]))) === 1;
    },
    async holder(name) {
      return (await guard(`lease holder ${name}`, () => main.get(key.lease(name)))) ?? undefined;
    },
  };

  return {
    description,
    connections,
    v1Connections,
    routes,
    events,
    feeds,
    replicas,
    async close() {
      if (closed) return;
      closed = true;
      const t = tail;
      if (t) {
        stopTail(t);
        const followers = [...t.followers];
        t.followers.clear();
        for (const { subscriber } of followers) subscriber.complete();
      }
      for (const client of clients) end(client);
    },
  };
}

/** The lower XRANGE bound for `after` (exclusive) and `from` (inclusive), whichever is later. */
function rangeStart(query: EventQuery): string {
  const fromStart = query.from === undefined ? undefined : `${query.from}-0`;
  if (query.after === undefined) return fromStart ?? "-";
  return fromStart !== undefined && comparePositions(fromStart, query.after) > 0 ? fromStart : `(${query.after}`;
}

/** An entry's stream fields (see the key layout); f and w only when given. */
function encodeFields(event: EventInput): string[] {
  const fields = ["c", JSON.stringify(event.connectionIds), "p", event.peer, "t", event.type, "d", encodePayload(event.payload), "a", String(event.at)];
  if (event.feed !== undefined) fields.push("f", event.feed);
  if (event.wire !== undefined) fields.push("w", event.wire);
  if (event.end !== undefined) fields.push("e", JSON.stringify(event.end));
  return fields;
}

function decodeEntry(id: string, fields: string[]): EventEntry {
  const map = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) map.set(fields[i]!, fields[i + 1]!);
  const feed = map.get("f");
  const wire = map.get("w");
  const end = map.get("e");
  try {
    return {
      position: id,
      connectionIds: JSON.parse(map.get("c") ?? "[]") as string[],
      peer: map.get("p") ?? "",
      type: map.get("t") ?? "",
      payload: JSON.parse(map.get("d") ?? "null") as unknown,
      at: Number(map.get("a") ?? 0),
      ...(feed !== undefined ? { feed } : {}),
      ...(wire !== undefined ? { wire } : {}),
      ...(end !== undefined ? { end: decodeEnd(end) } : {}),
    };
  } catch (error: unknown) {
    throw new ProxyError(Code.DATA_LOSS, `state store: event ${id} is not readable: ${(error as Error).message}`, { cause: error });
  }
}

/** An entry's end; one this reader cannot make sense of (a newer writer) is kept as its text. */
function decodeEnd(text: string): EventEnd {
  let end: unknown;
  try {
    end = JSON.parse(text);
  } catch {
    end = undefined;
  }
  return isEventEnd(end) ? end : { reason: text, hop: "" };
}

function parseSnapshot(json: string, feed: string): FeedSnapshot {
  try {
    const snapshot = JSON.parse(json) as Partial<FeedSnapshot> | null;
    if (typeof snapshot?.position !== "string" || typeof snapshot.state !== "string") throw new Error("not a feed snapshot");
    return { position: snapshot.position, state: snapshot.state };
  } catch (error: unknown) {
    throw new ProxyError(Code.DATA_LOSS, `state store: snapshot of feed ${feed} is not readable: ${(error as Error).message}`, { cause: error });
  }
}

function parseRecord(json: string, id: string): ConnectionRecord {
  try {
    const record = JSON.parse(json) as ConnectionRecord;
    if (typeof record !== "object" || record === null || typeof record.id !== "string") throw new Error("not a connection record");
    return record;
  } catch (error: unknown) {
    throw new ProxyError(Code.DATA_LOSS, `state store: connection record ${id} is not readable: ${(error as Error).message}`, { cause: error });
  }
}

function parseV1Record(json: string, id: string): V1ConnectionRecord {
  try {
    const record = JSON.parse(json) as unknown;
    if (!isV1Record(record)) throw new Error("not a v1 connection record");
    return record;
  } catch (error: unknown) {
    throw new ProxyError(Code.DATA_LOSS, `state store: v1 connection record ${id} is not readable: ${(error as Error).message}`, { cause: error });
  }
}

function wantsTls(options: RedisStateOptions): boolean {
  return !options.sentinels && (options.url ?? "").startsWith("rediss://");
}

function describe(options: RedisStateOptions): string {
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

function whenReady(client: Redis, timeoutMs: number, lastError: WeakMap<Redis, string>): Promise<void> {
  if (client.status === "ready") return Promise.resolve();
  return new Promise((resolve, reject) => {
    const done = (error?: Error) => {
      clearTimeout(timer);
      client.off("ready", onReady);
      client.off("end", onEnd);
      error ? reject(error) : resolve();
    };
    const onReady = () => done();
    const onEnd = () => done(new Error("connection ended"));
    const timer = setTimeout(() => done(new Error(`not reachable within ${timeoutMs} ms${lastError.has(client) ? ` (${lastError.get(client)})` : ""}`)), timeoutMs);
    client.once("ready", onReady);
    client.once("end", onEnd);
  });
}

type Script = (client: Redis, keys: readonly string[], args: readonly (string | number)[]) => Promise<unknown>;

/** A Lua script run by SHA, loaded on NOSCRIPT (e.g. on a freshly promoted master). */
function script(lua: string): Script {
  const sha = createHash("sha1").update(lua).digest("hex");
  return async (client, keys, args) => {
    try {
      return await client.evalsha(sha, keys.length, ...keys, ...args);
    } catch (error: unknown) {
      if (!(error instanceof Error) || !error.message.startsWith("NOSCRIPT")) throw error;
      return client.eval(lua, keys.length, ...keys, ...args);
    }
  };
}
