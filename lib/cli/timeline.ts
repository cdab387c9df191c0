/**
 * A connection's life at a glance (`pnsmgr events --connection ID --timeline`): the event log entries
 * of one connection turned into marks on lanes, one lane per hop seen in the recorded paths (and per
 * peer address no path names), and drawn as plain text, one row per mark, for a terminal without
 * colour. timeline-svg.ts draws the same model as an SVG.
 *
 * What a mark is: the first UPDATE that says UP is the Request; later UP ones are UPDATEs (refreshes,
 * changes), or a heal when the connection was DOWN before; an UPDATE with the connection DOWN is a
 * DOWN; a DELETE is the end. A DOWN / DELETE sits on the lane of the hop that saw it (its recorded
 * `end.hop`: a path segment's name, or the next hop's address), else on this proxy's lane (the
 * segment at the path's index); the others sit on this proxy's lane. Seed entries are recorded in
 * the client's view (pnsmgr is no segment of a seed path), so there "this proxy's lane" is the
 * segment at the path's index, the client's NSMgr.
 */
import type { EventEntry } from "../state/event-log.js";
import { endReasonText } from "../planes/end-reasons.js";

export type MarkKind = "REQUEST" | "UPDATE" | "DOWN" | "HEAL" | "DELETE" | "INITIAL" | "OTHER";

export interface Lane {
  /** The hop's path segment name, or its address when no path names it. */
  readonly name: string;
  /** The next hop's address, when this lane is the hop the events came from. */
  readonly address?: string;
}

export interface Mark {
  readonly at: number;
  readonly lane: number;
  readonly kind: MarkKind;
  readonly position: string;
  /** The reason's name (closed_by_client, ...), when recorded. */
  readonly reason?: string;
  /** The reason in words, the hop that saw it and any detail: "closed by the client (seen by nsmgr-proxy)". */
  readonly note?: string;
}

export interface Timeline {
  readonly connectionId: string;
  readonly lanes: readonly Lane[];
  readonly marks: readonly Mark[];
  readonly start: number;
  readonly end: number;
}

interface ConnectionJson {
  readonly id?: unknown;
  readonly state?: unknown;
  readonly path?: { readonly index?: unknown; readonly pathSegments?: readonly { readonly name?: unknown; readonly id?: unknown }[] };
}

function connectionOf(entry: EventEntry, id: string): ConnectionJson | undefined {
  const connections = (entry.payload as { connections?: Record<string, ConnectionJson> } | null)?.connections;
  if (connections === null || typeof connections !== "object") return undefined;
  return connections[id] ?? Object.values(connections).find(c => c?.id === id);
}

function segmentNames(conn: ConnectionJson | undefined): string[] {
  return (conn?.path?.pathSegments ?? []).map(s => (typeof s?.name === "string" ? s.name : ""));
}

function pathIndex(conn: ConnectionJson | undefined): number {
  return typeof conn?.path?.index === "number" ? conn.path.index : 0;
}

/** The model of one connection's life from its log entries (oldest first, as `pnsmgr events` reads them). */
export function buildTimeline(connectionId: string, entries: readonly EventEntry[]): Timeline {
  const lanes: { name: string; address?: string }[] = [];
  const laneOf = (name: string): number => {
    let i = lanes.findIndex(l => l.name === name || l.address === name);
    if (i < 0) i = lanes.push({ name }) - 1;
    return i;
  };
  // Lanes in path order: every path seen, each new name after the last known one before it.
  for (const entry of entries) {
    const conn = connectionOf(entry, connectionId);
    let after = -1;
    for (const name of segmentNames(conn)) {
      if (name === "") continue;
      const at = lanes.findIndex(l => l.name === name);
      if (at >= 0) {
        after = at;
        continue;
      }
      lanes.splice(after + 1, 0, { name });
      after++;
    }
    // The next hop the event came from: the segment after ours, known by its address too.
    const names = segmentNames(conn);
    const next = names[pathIndex(conn) + 1];
    if (entry.peer && next) {
      const lane = lanes.find(l => l.name === next);
      if (lane && lane.address === undefined) lane.address = entry.peer;
    }
  }
  const marks: Mark[] = [];
  let up = false;
  let down = false;
  for (const entry of entries) {
    const conn = connectionOf(entry, connectionId);
    const own = segmentNames(conn)[pathIndex(conn)];
    const ownLane = () => laneOf(own || "this proxy");
    let kind: MarkKind;
    if (entry.type === "DELETE") kind = "DELETE";
    else if (entry.type === "INITIAL_STATE_TRANSFER") kind = "INITIAL";
    else if (entry.type !== "UPDATE") kind = "OTHER";
    else if (conn?.state === "DOWN") kind = "DOWN";
    else if (!up) kind = "REQUEST";
    else kind = down ? "HEAL" : "UPDATE";
    if (kind === "REQUEST" || kind === "UPDATE" || kind === "HEAL") {
      up = true;
      down = false;
    }
    if (kind === "DOWN") down = true;
    if (kind === "DELETE") up = down = false;
    const lane = entry.end?.hop ? laneOf(entry.end.hop) : kind === "OTHER" && entry.peer ? laneOf(entry.peer) : ownLane();
    const note = entry.end
      ? `${endReasonText(entry.end.reason)} (seen by ${entry.end.hop || "?"})${entry.end.detail ? `: ${entry.end.detail}` : ""}`
      : kind === "OTHER"
        ? entry.type
        : undefined;
    marks.push({ at: entry.at, lane, kind, position: entry.position, ...(entry.end ? { reason: entry.end.reason } : {}), ...(note ? { note } : {}) });
  }
  const times = marks.map(m => m.at);
  return { connectionId, lanes, marks, start: times.length ? Math.min(...times) : 0, end: times.length ? Math.max(...times) : 0 };
}

export function laneLabel(lane: Lane): string {
  return lane.address && !lane.name.includes(lane.address) ? `${lane.name} @${lane.address}` : lane.name;
}

/** hh:mm:ss.mmm (UTC). */
export function clockTime(ms: number): string {
  return new Date(ms).toISOString().slice(11, 23);
}

export function seconds(ms: number): string {
  return (ms / 1000).toFixed(3);
}

function center(text: string, width: number): string {
  const left = Math.floor((width - text.length) / 2);
  return " ".repeat(Math.max(0, left)) + text + " ".repeat(Math.max(0, width - text.length - left));
}

/** The timeline as plain text lines (no colour, ASCII only). */
export function renderTimeline(timeline: Timeline): string[] {
  const { marks, lanes } = timeline;
  if (marks.length === 0) return [`connection ${timeline.connectionId}: no events in the log`];
  const span = timeline.end - timeline.start;
  const lines = [
    `connection ${timeline.connectionId}: ${marks.length} event${marks.length === 1 ? "" : "s"}, ` +
      `${new Date(timeline.start).toISOString()} .. ${new Date(timeline.end).toISOString()} (${seconds(span)} s)`,
    "",
  ];
  const labels = lanes.map(laneLabel);
  const widths = labels.map(l => Math.max(l.length, 9) + 2);
  const timeColumn = "time (UTC)   ";
  const offsetColumn = " ".repeat(Math.max(7, seconds(span).length + 1));
  lines.push(`${timeColumn}${"+s".padStart(offsetColumn.length)}  ${labels.map((l, i) => center(l, widths[i]!)).join("")}`.trimEnd());
  const cells = (lane?: number, kind?: string) => lanes.map((_, i) => center(i === lane ? `[${kind}]` : "|", widths[i]!)).join("");
  lines.push(`${" ".repeat(timeColumn.length + offsetColumn.length)}  ${cells()}`.trimEnd());
  for (const mark of marks) {
    const row = `${clockTime(mark.at).padEnd(timeColumn.length)}${seconds(mark.at - timeline.start).padStart(offsetColumn.length)}  ${cells(mark.lane, mark.kind)}`;
    lines.push(mark.note ? `${row}  ${mark.reason ? `${mark.reason}: ` : ""}${mark.note}` : row.trimEnd());
  }
  lines.push("");
  lines.push("REQUEST first Request  UPDATE refresh or change  DOWN connection down  HEAL up again after DOWN  DELETE closed");
  return lines;
}
