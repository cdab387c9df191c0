/**
 * The Redis stores of records: seed connection records and v1 connection records (hashes, each
 * write durable: acknowledged by WAIT replicas when configured, see session.ts) and learned routes
 * (a hash, written without WAIT: a route is learned again on the next Find/Register). One round trip
 * per write, one HGET / HGETALL per read. v1 records are also indexed by their path segment ids
 * (keys.ts: v1-segments), kept by the put and delete scripts, so that a monitor selector naming an
 * id finds its records without reading all.
 */
import { Code, ProxyError } from "../../pipeline/errors.js";
import type { ConnectionRecord, ConnectionStore } from "../connection-store.js";
import type { RouteStore } from "../route-store.js";
import { type V1ConnectionRecord, type V1ConnectionStore, STALE_V1_RECORD_MS, checkV1Record, isV1Record, recordSegmentIds } from "../v1-connection-store.js";
import type { RedisSession } from "./session.js";

export function redisConnectionStore(session: RedisSession): ConnectionStore {
  const { main, keys } = session;
  return {
    put: record => session.durableWrite(`put connection ${record.id}`, p => p.hset(keys.connections, record.id, JSON.stringify(record))),
    async get(id) {
      const json = await session.guard(`get connection ${id}`, () => main.hget(keys.connections, id));
      return json === null ? undefined : parseRecord(json, id);
    },
    delete: id => session.durableWrite(`delete connection ${id}`, p => p.hdel(keys.connections, id)),
    async list() {
      const all = await session.guard("list connections", () => main.hgetall(keys.connections));
      return Object.entries(all).map(([id, json]) => parseRecord(json, id));
    },
  };
}

export function redisV1ConnectionStore(session: RedisSession): V1ConnectionStore {
  const { main, keys } = session;
  const index = [keys.v1Connections, keys.v1Segments];
  return {
    shared: true,
    async put(record) {
      checkV1Record(record);
      const members = recordSegmentIds(record).map(segment => segmentMember(segment, record.id));
      await session.durableWrite(`put v1 connection ${record.id}`, p => p.eval(PUT_V1_RECORD, 2, ...index, record.id, JSON.stringify(record), ...members));
    },
    async get(id) {
      const json = await session.guard(`get v1 connection ${id}`, () => main.hget(keys.v1Connections, id));
      return json === null ? undefined : parseV1Record(json, id);
    },
    delete: id => session.durableWrite(`delete v1 connection ${id}`, p => p.eval(DELETE_V1_RECORD, 2, ...index, id)),
    async list(now = Date.now()) {
      const all = await session.guard("list v1 connections", () => main.hgetall(keys.v1Connections));
      const live: V1ConnectionRecord[] = [];
      const stale: string[] = [];
      for (const [id, json] of Object.entries(all)) {
        const record = readV1Record(session, json, id);
        if (record === undefined) stale.push(id);
        else if (record.expires > now) live.push(record);
        else if (record.expires <= now - STALE_V1_RECORD_MS) stale.push(id);
      }
      if (stale.length > 0) {
        // With the delete script, so that the index loses exactly the members of what is removed.
        await session.guard("remove stale v1 connections", async () => {
          const pipeline = main.pipeline();
          for (const id of stale) pipeline.eval(DELETE_V1_RECORD, 2, ...index, id);
          for (const [error] of (await pipeline.exec()) ?? []) if (error) throw error;
        });
      }
      return live;
    },
    async findBySegment(segmentId, now = Date.now()) {
      const prefix = segmentMember(segmentId, "");
      const members = await session.guard(`find v1 connections by segment ${segmentId}`, () => main.zrangebylex(keys.v1Segments, `[${prefix}`, `(${segmentId}\u0001`));
      if (members.length === 0) return [];
      const ids = members.map(member => member.slice(prefix.length));
      const jsons = await session.guard(`get v1 connections by segment ${segmentId}`, () => main.hmget(keys.v1Connections, ...ids));
      // The index may still name records that changed or went: each is checked as list() would.
      return jsons.flatMap((json, i) => {
        const record = json === null ? undefined : readV1Record(session, json, ids[i]!);
        return record !== undefined && record.expires > now && recordSegmentIds(record).includes(segmentId) ? [record] : [];
      });
    },
  };
}

/** The index member filing record `id` under one of its path segment ids (NUL cannot end a segment id's prefix early in lex order). */
function segmentMember(segmentId: string, id: string): string {
  return `${segmentId}\u0000${id}`;
}

/** Lua: removes from the index (KEYS[2]) the members of the stored record `json` (id `id`): the segment ids of the path it has. */
const UNINDEX = `
local function unindex(json, id)
  local ok, record = pcall(cjson.decode, json)
  if not ok or type(record) ~= 'table' or type(record.connection) ~= 'table' then return end
  local path = record.connection.path
  if type(path) ~= 'table' or type(path.pathSegments) ~= 'table' then return end
  for _, segment in ipairs(path.pathSegments) do
    if type(segment) == 'table' and type(segment.id) == 'string' then
      redis.call('ZREM', KEYS[2], segment.id .. string.char(0) .. id)
    end
  end
end
`;

/**
 * KEYS: records hash, segment index; ARGV: id, record JSON, its index members. One write, atomic with
 * its index: the members of the path the record had go, those of its new path come (a refresh after a
 * heal or reselect may change segment ids).
 */
const PUT_V1_RECORD = `${UNINDEX}
local old = redis.call('HGET', KEYS[1], ARGV[1])
if old then unindex(old, ARGV[1]) end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
for i = 3, #ARGV do redis.call('ZADD', KEYS[2], 0, ARGV[i]) end
return 1
`;

/**
 * KEYS: records hash, segment index; ARGV: id. Removes the record and, in the same step, the index
 * members of the path it had (so the index names every record under each of its segments, and no more).
 */
const DELETE_V1_RECORD = `${UNINDEX}
local json = redis.call('HGET', KEYS[1], ARGV[1])
if not json then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
unindex(json, ARGV[1])
return 1
`;

/** A stored record, or undefined (logged) when it is unreadable: garbage, which list() removes. */
function readV1Record(session: RedisSession, json: string, id: string): V1ConnectionRecord | undefined {
  try {
    return parseV1Record(json, id);
  } catch (error: unknown) {
    session.log.warn("state store: an unreadable v1 connection record", { store: session.description, id, error: (error as Error).message });
    return undefined;
  }
}

export function redisRouteStore(session: RedisSession): RouteStore {
  const { main, keys } = session;
  return {
    set: (name, url) => session.guard(`set route ${name}`, () => main.hset(keys.routes, name, url)).then(() => undefined),
    get: name => session.guard(`get route ${name}`, () => main.hget(keys.routes, name)).then(url => url ?? undefined),
    delete: name => session.guard(`delete route ${name}`, () => main.hdel(keys.routes, name)).then(() => undefined),
  };
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
