/**
 * What the Redis store's Lua scripts share: running a script by SHA (loading it on NOSCRIPT), the
 * server clock as `now`, and trimming the event log after an append, which both the plain append
 * (event-log.ts) and a feed's fenced append (feeds.ts) do in the same script as their XADD.
 */
import { createHash } from "node:crypto";
import type { Redis } from "ioredis";
import { type EventLogBounds, TRIM_SLACK } from "../event-log.js";

export type Script = (client: Redis, keys: readonly string[], args: readonly (string | number)[]) => Promise<unknown>;

/** A Lua script run by SHA, loaded on NOSCRIPT (e.g. on a freshly promoted master). */
export function script(lua: string): Script {
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

/** Sets the local `now` to the server's clock in ms. */
export const NOW_MS = "local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) ";

/** Entries one append trims by length at most (see TRIM). */
const TRIM_MAX_BATCH = 1000;

/**
 * Trims the log (stream `log`) after an append and records the newest trimmed position in `mark`.
 * Trimming is exact (to the entry) so that the newest trimmed position is known: by length, once the
 * log holds more than maxLen (+ TRIM_SLACK in approximate mode "~", so that it is done in batches);
 * by age, at every append (XREVRANGE finds the newest entry older than the bound: O(log n)). Finding
 * the newest entry trimmed by length reads the entries trimmed, so one append trims at most
 * TRIM_MAX_BATCH by length: a log far over maxLen (maxLen lowered) shrinks over the next appends
 * rather than blocking Redis for one long script.
 */
export const TRIM = `
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

/** The first three ARGV of a script that calls trim: maxLen, maxAgeMs, mode ("=" exact, "~" approximate). */
export function trimArgs(bounds: EventLogBounds): readonly [number, number, string] {
  return [bounds.maxLen, bounds.maxAgeMs, bounds.trim === "exact" ? "=" : "~"];
}
