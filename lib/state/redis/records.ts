/**
 * The Redis stores of records: seed connection records and v1 connection records (hashes, each
 * write durable: acknowledged by WAIT replicas when configured, see session.ts) and learned routes
 * (a hash, written without WAIT: a route is learned again on the next Find/Register). One round trip
 * per write, one HGET / HGETALL per read.
 */
import { Code, ProxyError } from "../../pipeline/errors.js";
import type { ConnectionRecord, ConnectionStore } from "../connection-store.js";
import type { RouteStore } from "../route-store.js";
import { type V1ConnectionRecord, type V1ConnectionStore, STALE_V1_RECORD_MS, checkV1Record, isV1Record } from "../v1-connection-store.js";
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
  return {
    shared: true,
    async put(record) {
      checkV1Record(record);
      await session.durableWrite(`put v1 connection ${record.id}`, p => p.hset(keys.v1Connections, record.id, JSON.stringify(record)));
    },
    async get(id) {
      const json = await session.guard(`get v1 connection ${id}`, () => main.hget(keys.v1Connections, id));
      return json === null ? undefined : parseV1Record(json, id);
    },
    delete: id => session.durableWrite(`delete v1 connection ${id}`, p => p.hdel(keys.v1Connections, id)),
    async list(now = Date.now()) {
      const all = await session.guard("list v1 connections", () => main.hgetall(keys.v1Connections));
      const live: V1ConnectionRecord[] = [];
      const stale: string[] = [];
      for (const [id, json] of Object.entries(all)) {
        let record: V1ConnectionRecord;
        try {
          record = parseV1Record(json, id);
        } catch (error: unknown) {
          // One unreadable record must not hide the others; it is garbage, removed like a stale one.
          session.log.warn("state store: removing an unreadable v1 connection record", { store: session.description, id, error: (error as Error).message });
          stale.push(id);
          continue;
        }
        if (record.expires > now) live.push(record);
        else if (record.expires <= now - STALE_V1_RECORD_MS) stale.push(id);
      }
      if (stale.length > 0) await session.guard("remove stale v1 connections", () => main.hdel(keys.v1Connections, ...stale));
      return live;
    },
  };
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
