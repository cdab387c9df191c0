/**
 * NSM's path rules (sdk pkg/networkservice/common/updatepath), as pure functions over copies:
 *  - an empty path gets our segment at index 0 (id = the connection's id, or a new one);
 *  - if the current segment already carries our name, we are that hop: conn.id := its id;
 *  - otherwise the current segment's id must equal conn.id; we move to index+1, reusing the segment
 *    there when it has our name (a refresh), renaming it with a new id when it has another name, or
 *    appending {name, id: uuid}; conn.id := our segment's id.
 * Violations are INVALID_ARGUMENT with the SDK's wording.
 */
import { randomUUID } from "node:crypto";
import { invalidArgument } from "../../../pipeline/errors.js";
import type { Connection, PathSegment } from "../../../../generated/nsm/connection.js";

export interface PathUpdate {
  /** The connection in our frame: id = our segment's id, path.index = our index. */
  readonly conn: Connection;
  /** The index to give the answer back at (the caller's segment). */
  readonly callerIndex: number;
}

export function segment(name: string, id: string): PathSegment {
  return { name, id, token: "", expires: undefined, metrics: {} };
}

export function updatePath(conn: Connection, name: string, newId: () => string = randomUUID): PathUpdate {
  const segments = (conn.path?.pathSegments ?? []).map(s => ({ ...s }));
  const index = conn.path?.index ?? 0;
  if (segments.length === 0) {
    const id = conn.id || newId();
    return { conn: { ...conn, id, path: { index: 0, pathSegments: [segment(name, id)] } }, callerIndex: 0 };
  }
  const current = segments[index];
  if (current && current.name === name) {
    return { conn: { ...conn, id: current.id, path: { index, pathSegments: segments } }, callerIndex: index };
  }
  const nextIndex = index + 1;
  if (nextIndex > segments.length) {
    throw invalidArgument(`Path.Index+1==${nextIndex} should be less or equal len(Path.PathSegments)==${segments.length}`);
  }
  if (current?.id !== conn.id) {
    throw invalidArgument(`Current PathSegment.Id==${current?.id ?? ""} should be equal Connection.Id==${conn.id}`);
  }
  const next = segments[nextIndex];
  let id: string;
  if (next === undefined) {
    id = newId();
    segments.push(segment(name, id));
  } else if (next.name !== name) {
    id = newId();
    segments[nextIndex] = { ...next, name, id };
  } else {
    id = next.id;
  }
  return { conn: { ...conn, id, path: { index: nextIndex, pathSegments: segments } }, callerIndex: index };
}

/** The answer in the caller's frame: id of the caller's segment, index at it. */
export function toCallerFrame(conn: Connection, callerIndex: number, callerId: string): Connection {
  const segments = conn.path?.pathSegments ?? [];
  return { ...conn, id: segments[callerIndex]?.id ?? callerId, path: { pathSegments: segments, index: callerIndex } };
}

/** Our own segment (at path.index). */
export function currentSegment(conn: Connection): PathSegment | undefined {
  return conn.path?.pathSegments[conn.path.index];
}

/** The segment before ours: the hop that called us. */
export function previousSegment(conn: Connection): PathSegment | undefined {
  const index = conn.path?.index ?? 0;
  return index > 0 ? conn.path?.pathSegments[index - 1] : undefined;
}

/** A copy of the connection with segment `index` replaced by `update(segment)`. */
export function withSegment(conn: Connection, index: number, update: (s: PathSegment) => PathSegment): Connection {
  const path = conn.path ?? { index: 0, pathSegments: [] };
  return { ...conn, path: { ...path, pathSegments: path.pathSegments.map((s, i) => (i === index ? update(s) : s)) } };
}
