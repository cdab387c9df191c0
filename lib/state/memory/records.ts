/**
 * The embedded stores of records: seed connection records, learned routes and v1 connection
 * records, each a Map in this process (one replica; nothing shared).
 */
import type { ConnectionRecord, ConnectionStore } from "../connection-store.js";
import type { RouteStore } from "../route-store.js";
import { type V1ConnectionRecord, type V1ConnectionStore, STALE_V1_RECORD_MS, checkV1Record, recordSegmentIds } from "../v1-connection-store.js";

export function createMemoryConnectionStore(): ConnectionStore {
  const records = new Map<string, ConnectionRecord>();
  return {
    async put(record) {
      records.set(record.id, record);
    },
    async get(id) {
      return records.get(id);
    },
    async delete(id) {
      records.delete(id);
    },
    async list() {
      return [...records.values()];
    },
  };
}

export function createMemoryRouteStore(): RouteStore {
  const routes = new Map<string, string>();
  return {
    async set(name, url) {
      routes.set(name, url);
    },
    async get(name) {
      return routes.get(name);
    },
    async delete(name) {
      routes.delete(name);
    },
  };
}

export function createMemoryV1ConnectionStore(options: { shared?: boolean } = {}): V1ConnectionStore {
  const records = new Map<string, string>();
  const parse = (json: string) => JSON.parse(json) as V1ConnectionRecord;
  const list = async (now = Date.now()) => {
    const out: V1ConnectionRecord[] = [];
    for (const [id, json] of records) {
      const record = parse(json);
      if (record.expires > now) out.push(record);
      else if (record.expires <= now - STALE_V1_RECORD_MS) records.delete(id);
    }
    return out;
  };
  return {
    shared: options.shared ?? false,
    async put(record) {
      checkV1Record(record);
      // Stored as JSON, so a record read back looks exactly like one read back from Redis.
      records.set(record.id, JSON.stringify(record));
    },
    async get(id) {
      const json = records.get(id);
      return json === undefined ? undefined : parse(json);
    },
    async delete(id) {
      records.delete(id);
    },
    list,
    // A scan: this store is shared only in tests (standing for Redis), never with many records.
    async findBySegment(segmentId, now = Date.now()) {
      return (await list(now)).filter(record => recordSegmentIds(record).includes(segmentId));
    },
  };
}
