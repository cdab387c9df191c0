/**
 * How `pnsmgr events` prints an event log entry: one readable line, or one JSON object per line.
 *
 *   <position> <ISO time> <TYPE> peer=<peer> conn=<ids> state=<state> path[1]=<name> service=<service>
 *
 * The summary comes from the recorded ConnectionEvent (proto3 JSON: a state left out is UP); an
 * event about several connections lists each as `<id>: state=… path[1]=… service=…`, separated by
 * "; ", and one about none says "(no connections)". A DOWN or DELETE recorded with its reason ends
 * with ` reason=<reason> hop=<hop that saw it> detail="…"` (JSON: `end: {reason, hop, detail}`).
 */
import type { EventEntry } from "../state/event-log.js";

interface ConnectionJson {
  readonly id?: unknown;
  readonly state?: unknown;
  readonly networkService?: unknown;
  readonly path?: { readonly pathSegments?: readonly { readonly name?: unknown }[] };
}

export function isoTime(ms: number): string {
  return Number.isFinite(ms) && Math.abs(ms) <= 8.64e15 ? new Date(ms).toISOString() : String(ms);
}

export function formatReadable(entry: EventEntry): string {
  const ids = entry.connectionIds.length > 0 ? entry.connectionIds.join(",") : "-";
  const end = entry.end ? ` reason=${entry.end.reason} hop=${entry.end.hop || "-"}${entry.end.detail ? ` detail=${JSON.stringify(entry.end.detail)}` : ""}` : "";
  return `${entry.position} ${isoTime(entry.at)} ${entry.type} peer=${entry.peer || "-"} conn=${ids} ${summary(entry.payload)}${end}`;
}

export function formatJson(entry: EventEntry): string {
  return JSON.stringify({
    position: entry.position,
    time: isoTime(entry.at),
    at: entry.at,
    type: entry.type,
    peer: entry.peer,
    connectionIds: entry.connectionIds,
    payload: entry.payload,
    ...(entry.end ? { end: entry.end } : {}),
  });
}

/** state, path[1] and service of each connection in a recorded ConnectionEvent. */
export function summary(payload: unknown): string {
  const connections = payload !== null && typeof payload === "object" ? (payload as { connections?: unknown }).connections : undefined;
  if (connections === null || typeof connections !== "object") return "(no connections)";
  const entries = Object.entries(connections as Record<string, ConnectionJson>);
  if (entries.length === 0) return "(no connections)";
  const one = (conn: ConnectionJson) =>
    `state=${text(conn.state, "UP")} path[1]=${text(conn.path?.pathSegments?.[1]?.name, "-")} service=${text(conn.networkService, "-")}`;
  if (entries.length === 1) return one(entries[0]![1] ?? {});
  return entries.map(([key, conn]) => `${text(conn?.id, key)}: ${one(conn ?? {})}`).join("; ");
}

function text(value: unknown, fallback: string): string {
  return typeof value === "string" && value !== "" ? value : typeof value === "number" ? String(value) : fallback;
}
