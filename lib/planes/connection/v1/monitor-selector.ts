/**
 * Which connections a MonitorConnections selector asks for (api's MatchesMonitorScopeSelector): an
 * empty selector matches all; network services, when given, must include the connection's; the
 * selector's path segments must appear contiguously in the connection's path, where an empty name,
 * id or token in the selector matches anything. A selector whose first segment names an id matches
 * only connections holding a segment with that id (selectorSegmentId), which lets its connections be
 * looked up by that id.
 */
import type { Connection, MonitorScopeSelector } from "../../../../generated/nsm/connection.js";

export function matchesSelector(conn: Connection, selector: MonitorScopeSelector): boolean {
  const wanted = selector.pathSegments;
  if (wanted.length === 0 && selector.networkServices.length === 0) return true;
  if (selector.networkServices.length > 0 && !selector.networkServices.includes(conn.networkService)) return false;
  if (wanted.length === 0) return true;
  const segments = conn.path?.pathSegments ?? [];
  for (let i = 0; i + wanted.length <= segments.length; i++) {
    const all = wanted.every((w, j) => {
      const s = segments[i + j];
      return s !== undefined && (w.name === "" || w.name === s.name) && (w.id === "" || w.id === s.id) && (w.token === "" || w.token === s.token);
    });
    if (all) return true;
  }
  return false;
}

/** The connections of a map the selector matches, keeping their keys. */
export function filterConnections(connections: Readonly<Record<string, Connection>>, selector: MonitorScopeSelector): Record<string, Connection> {
  return Object.fromEntries(Object.entries(connections).filter(([, c]) => matchesSelector(c, selector)));
}

/** The id the selector's first path segment names, if any: every connection it matches has a segment with this id. */
export function selectorSegmentId(selector: MonitorScopeSelector): string | undefined {
  const id = selector.pathSegments[0]?.id;
  return id === undefined || id === "" ? undefined : id;
}
