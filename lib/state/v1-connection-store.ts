/**
 * v1 connection records: what any replica needs to carry on a v1 connection that another replica
 * started (a refresh, a Close, a monitor stream arriving elsewhere). Keyed by our own path segment id,
 * which all replicas of one proxy share (same NSM_NAME) and which stays the same across refreshes.
 * Written on every successful Request, deleted on Close and expiry.
 *
 * Only a shared store (Redis) is read and written by the v1 plane; the in-memory store exists so that
 * the StateStore has one shape (and for tests, which may mark it shared to stand for Redis). The
 * interface and the record checks both stores share; the stores are memory/records.ts and
 * redis/records.ts.
 */
import { invalidArgument } from "../pipeline/errors.js";

/** Where the connection was sent, as the plane's Route (connection-table.ts). */
export interface V1RecordedRoute {
  /** host:port of the next hop. */
  readonly nextHop: string;
  readonly networkServiceEndpointName: string;
  readonly networkService: string;
  readonly via: string;
}

export interface V1ConnectionRecord {
  /** Our path segment id (the connection's id in our frame). */
  readonly id: string;
  /** The connection as last returned, in our frame (id = our segment id, path.index = ours), as proto3 JSON. */
  readonly connection: unknown;
  readonly route: V1RecordedRoute;
  /** Epoch ms: the previous segment's expiry; the connection is dead after it unless refreshed. */
  readonly expires: number;
  /** Unique per successful Request: which write (so which replica) was the last. */
  readonly stamp: string;
  /** Epoch ms of the write. */
  readonly updatedAt: number;
}

export interface V1ConnectionStore {
  /** Whether other replicas see this store: only then does the v1 plane use it. */
  readonly shared: boolean;
  /** Writes (replaces) the record: one round trip (acknowledged by WAIT replicas when configured). */
  put(record: V1ConnectionRecord): Promise<void>;
  /** The record, expired or not. */
  get(id: string): Promise<V1ConnectionRecord | undefined>;
  delete(id: string): Promise<void>;
  /**
   * The live records (expires after `now`). Records expired for longer than STALE_V1_RECORD_MS (left
   * behind by replicas that died) are removed on the way.
   */
  list(now?: number): Promise<V1ConnectionRecord[]>;
  /**
   * The live records whose connection's path holds a segment with this id: exactly what list(now)
   * gives filtered so, found without reading every record (Redis keeps an index of segment ids).
   */
  findBySegment(segmentId: string, now?: number): Promise<V1ConnectionRecord[]>;
}

/** A record expired this long ago is garbage (every replica's own check has long run). */
export const STALE_V1_RECORD_MS = 10 * 60_000;

export function checkV1Record(record: V1ConnectionRecord): void {
  if (typeof record?.id !== "string" || record.id === "") throw invalidArgument("v1 connection record: id must be a non-empty string");
  if (!Number.isFinite(record.expires) || !Number.isFinite(record.updatedAt)) throw invalidArgument("v1 connection record: expires and updatedAt must be epoch ms");
  if (typeof record.stamp !== "string" || typeof record.route?.nextHop !== "string") throw invalidArgument("v1 connection record: stamp and route.nextHop must be strings");
}

/** The ids of the path segments of a record's connection (proto3 JSON, as written by the v1 plane). */
export function recordSegmentIds(record: V1ConnectionRecord): string[] {
  const path = (record.connection as { path?: { pathSegments?: unknown } } | null)?.path;
  const segments = Array.isArray(path?.pathSegments) ? (path.pathSegments as unknown[]) : [];
  return segments.flatMap(s => {
    const id = (s as { id?: unknown } | null)?.id;
    return typeof id === "string" ? [id] : [];
  });
}

/** Whether a parsed value has the shape of a record (for stores that read JSON back). */
export function isV1Record(value: unknown): value is V1ConnectionRecord {
  const r = value as V1ConnectionRecord | null;
  return (
    typeof r === "object" &&
    r !== null &&
    typeof r.id === "string" &&
    typeof r.stamp === "string" &&
    typeof r.expires === "number" &&
    typeof r.updatedAt === "number" &&
    typeof r.route === "object" &&
    r.route !== null &&
    typeof r.route.nextHop === "string"
  );
}
