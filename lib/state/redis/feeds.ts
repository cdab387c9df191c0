/**
 * The Redis feed store: feed specs, touch times and snapshots in hashes (keys.ts), and the fenced
 * append: one Lua script checks the feed's lease, appends the entry to the event log (trimming it like
 * any append) and replaces the snapshot, so a replica that lost its lease cannot write behind the new
 * holder's back. Touch times and idle checks use the server's clock.
 */
import { Code, ProxyError } from "../../pipeline/errors.js";
import type { EventLogBounds } from "../event-log.js";
import { type FeedSnapshot, type FeedStore, checkFeedKey, checkIdleMs, checkText, feedEvent, feedLease } from "../feed-store.js";
import { encodeFields } from "./event-stream.js";
import { NOW_MS, TRIM, script, trimArgs } from "./lua.js";
import type { RedisSession } from "./session.js";

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

/** The feed store; `bounds` are the event log's, kept by the fenced append as by any append. */
export function redisFeedStore(session: RedisSession, bounds: EventLogBounds): FeedStore {
  const { main, keys } = session;
  return {
    async register(feed, spec) {
      checkFeedKey(feed);
      checkText("feed spec", spec);
      await session.guard(`register feed ${feed}`, () => FEED_REGISTER(main, [keys.feeds, keys.feedTouched], [feed, spec]));
    },
    async touch(feeds) {
      for (const feed of feeds) checkFeedKey(feed);
      if (feeds.length === 0) return;
      await session.guard("touch feeds", () => FEED_TOUCH(main, [keys.feeds, keys.feedTouched], [...feeds]));
    },
    async list() {
      const flat = (await session.guard("list feeds", () => FEED_LIST(main, [keys.feeds, keys.feedTouched], []))) as (string | number)[];
      const out: { key: string; spec: string; idleMs: number }[] = [];
      for (let i = 0; i + 2 < flat.length; i += 3) out.push({ key: String(flat[i]), spec: String(flat[i + 1]), idleMs: Number(flat[i + 2]) });
      return out;
    },
    async remove(feed, ifIdleForMs) {
      checkFeedKey(feed);
      checkIdleMs(ifIdleForMs);
      const removed = await session.guard(`remove feed ${feed}`, () =>
        FEED_REMOVE(main, [keys.feeds, keys.feedTouched, keys.feedSnapshots], [feed, ifIdleForMs === undefined ? "" : ifIdleForMs]),
      );
      return removed === 1;
    },
    async snapshot(feed) {
      checkFeedKey(feed);
      const json = await session.guard(`feed snapshot ${feed}`, () => main.hget(keys.feedSnapshots, feed));
      return json === null ? undefined : parseSnapshot(json, feed);
    },
    async append(feed, holder, event, state) {
      const fields = encodeFields(feedEvent(feed, holder, event, state));
      const position = await session.guard(`append to feed ${feed}`, () =>
        FEED_APPEND(
          main,
          [keys.events, keys.eventsTrimmed, keys.lease(feedLease(feed)), keys.feedSnapshots],
          [...trimArgs(bounds), holder, feed, state === undefined ? "" : JSON.stringify(state), ...fields],
        ),
      );
      return position === null || position === undefined ? undefined : String(position);
    },
  };
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
