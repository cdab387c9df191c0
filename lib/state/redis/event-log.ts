/**
 * The Redis event log: one stream (keys.ts), appended by a Lua script that also trims it to its
 * bounds and records the newest trimmed position (lua.ts), read with XRANGE in pages, followed through
 * the store's one shared XREAD tail (event-follow.ts).
 */
import type { Observable } from "rxjs";
import {
  type EventEntry,
  type EventLog,
  type EventLogBounds,
  type EventQuery,
  type FollowQuery,
  DEFAULT_READ_LIMIT,
  checkEvent,
  checkQuery,
  comparePositions,
  matchesFilter,
} from "../event-log.js";
import { EventFollowers } from "./event-follow.js";
import { PAGE, decodeEntry, encodeFields } from "./event-stream.js";
import { NOW_MS, TRIM, script, trimArgs } from "./lua.js";
import type { RedisSession } from "./session.js";

/** KEYS: events, events-trimmed. ARGV: maxLen, maxAgeMs, mode, then the entry's fields. */
const APPEND = script(`${NOW_MS}${TRIM}
local args = {'XADD', KEYS[1], '*'}
for i = 4, #ARGV do args[#args + 1] = ARGV[i] end
local id = redis.call(unpack(args))
trim(KEYS[1], KEYS[2], tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], now)
return id`);

export function redisEventLog(session: RedisSession, bounds: EventLogBounds): EventLog {
  const { main, keys } = session;
  const followers = new EventFollowers(session);
  return {
    async append(event) {
      checkEvent(event);
      const fields = encodeFields(event);
      return session.guard("append event", async () => String(await APPEND(main, [keys.events, keys.eventsTrimmed], [...trimArgs(bounds), ...fields])));
    },
    read: query => readEvents(session, query),
    follow: (query: FollowQuery = {}): Observable<EventEntry> => followers.follow(query),
    async last() {
      const [newest] = await session.guard("last event", () => main.xrevrange(keys.events, "+", "-", "COUNT", 1));
      return newest?.[0];
    },
    async trimmedThrough() {
      // Set by the append scripts as they trim; it only moves forward (the oldest entries go first).
      return (await session.guard("events trimmed through", () => main.get(keys.eventsTrimmed))) ?? "0-0";
    },
  };
}

/** The entries matching the query: XRANGE pages (bigger ones when nothing is filtered out) up to the limit. */
async function readEvents(session: RedisSession, query: EventQuery = {}): Promise<EventEntry[]> {
  checkQuery(query);
  const limit = query.limit ?? DEFAULT_READ_LIMIT;
  let start = rangeStart(query);
  const end = query.to === undefined ? "+" : String(query.to);
  const filtered = query.connectionId !== undefined || query.peer !== undefined || query.feed !== undefined;
  const out: EventEntry[] = [];
  for (;;) {
    const count = filtered ? PAGE : Math.min(limit - out.length, 10 * PAGE);
    const page = await session.guard("read events", () => session.main.xrange(session.keys.events, start, end, "COUNT", count));
    for (const [id, fields] of page) {
      const entry = decodeEntry(id, fields);
      if (matchesFilter(entry, query)) out.push(entry);
      if (out.length >= limit) return out;
    }
    const last = page.at(-1);
    if (page.length < count || last === undefined) return out;
    start = `(${last[0]}`;
  }
}

/** The lower XRANGE bound for `after` (exclusive) and `from` (inclusive), whichever is later. */
function rangeStart(query: EventQuery): string {
  const fromStart = query.from === undefined ? undefined : `${query.from}-0`;
  if (query.after === undefined) return fromStart ?? "-";
  return fromStart !== undefined && comparePositions(fromStart, query.after) > 0 ? fromStart : `(${query.after}`;
}
