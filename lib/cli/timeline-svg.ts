/**
 * A connection's life as a self-contained SVG (`pnsmgr events --connection ID --svg FILE`), for a
 * person to open in a browser: the timeline model of timeline.ts drawn with time running left to
 * right, one horizontal lane per hop (its name on the left), a bar on this proxy's lane showing the
 * connection's state between marks (green while up, red while down), each mark a coloured shape at
 * its time with its kind and reason written next to it, and a time axis below. Marks closer in time
 * than MARK_GAP pixels are pushed apart (in time order), and the time scale stretches with them (the
 * axis's ticks are placed by the same mapping, so what it says stays true). No scripts, no external
 * fonts or images; a white background so a rendering is never transparent.
 *
 * `layoutTimeline` exposes where everything is drawn (lane bands, mark centres, colours), so a test
 * can render the SVG to PNG and check that each mark shows where and in the colour it should.
 */
import { type MarkKind, type Timeline, clockTime, laneLabel, seconds } from "./timeline.js";

export const MARK_COLOURS: Readonly<Record<MarkKind, string>> = {
  REQUEST: "#1f77b4",
  UPDATE: "#2ca02c",
  DOWN: "#d62728",
  HEAL: "#9467bd",
  DELETE: "#222222",
  INITIAL: "#7f7f7f",
  OTHER: "#ff7f0e",
};

const BAR_COLOURS = { up: "#b7e4b0", down: "#f4b6b6", gone: "#dddddd" } as const;

export const WIDTH = 1100;
const LABEL_WIDTH = 230;
const RIGHT_MARGIN = 40;
const TOP = 70;
export const LANE_HEIGHT = 90;
const AXIS_HEIGHT = 60;
const MARK_RADIUS = 9;
/** Least distance between two marks' centres, so that neither they nor their words overlap. */
export const MARK_GAP = 100;

export interface LaidOutMark {
  readonly x: number;
  readonly y: number;
  readonly kind: MarkKind;
  readonly colour: string;
}

export interface TimelineLayout {
  readonly width: number;
  readonly height: number;
  /** Each lane's band: y from top to top + height. */
  readonly lanes: readonly { readonly label: string; readonly top: number; readonly height: number }[];
  readonly marks: readonly LaidOutMark[];
  /** x of a time (epoch ms). */
  x(at: number): number;
}

export function layoutTimeline(timeline: Timeline): TimelineLayout {
  const span = Math.max(1, timeline.end - timeline.start);
  const linear = (at: number) => LABEL_WIDTH + ((at - timeline.start) / span) * (WIDTH - LABEL_WIDTH - RIGHT_MARGIN);
  // Marks in time order, each at least MARK_GAP right of the one before.
  const xs: number[] = [];
  for (const mark of timeline.marks) xs.push(Math.max(linear(mark.at), (xs.at(-1) ?? -Infinity) + MARK_GAP));
  const width = Math.max(WIDTH, Math.ceil((xs.at(-1) ?? 0) + RIGHT_MARGIN));
  // A time's x: between two marks, in proportion; before the first and after the last, the marks' x.
  const x = (at: number) => {
    const { marks } = timeline;
    if (marks.length === 0) return linear(at);
    if (at <= marks[0]!.at) return xs[0]!;
    for (let i = 0; i + 1 < marks.length; i++) {
      const a = marks[i]!.at;
      const b = marks[i + 1]!.at;
      if (at <= b) return b === a ? xs[i + 1]! : xs[i]! + ((at - a) / (b - a)) * (xs[i + 1]! - xs[i]!);
    }
    return xs.at(-1)!;
  };
  const lanes = timeline.lanes.map((lane, i) => ({ label: laneLabel(lane), top: TOP + i * LANE_HEIGHT, height: LANE_HEIGHT }));
  const marks = timeline.marks.map((mark, i) => ({ x: xs[i]!, y: TOP + mark.lane * LANE_HEIGHT + LANE_HEIGHT / 2, kind: mark.kind, colour: MARK_COLOURS[mark.kind] }));
  return { width, height: TOP + Math.max(1, lanes.length) * LANE_HEIGHT + AXIS_HEIGHT, lanes, marks, x };
}

function escape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

function shape(mark: LaidOutMark): string {
  const { x, y, colour } = mark;
  const r = MARK_RADIUS;
  const f = (n: number) => n.toFixed(1);
  switch (mark.kind) {
    case "DOWN": // a cross on a disc: something broke
      return `<circle cx="${f(x)}" cy="${f(y)}" r="${r}" fill="${colour}"/><path d="M${f(x - 4)} ${f(y - 4)}L${f(x + 4)} ${f(y + 4)}M${f(x + 4)} ${f(y - 4)}L${f(x - 4)} ${f(y + 4)}" stroke="#ffffff" stroke-width="2"/>`;
    case "DELETE": // a square: the end
      return `<rect x="${f(x - r)}" y="${f(y - r)}" width="${2 * r}" height="${2 * r}" fill="${colour}"/>`;
    case "HEAL": // a diamond
      return `<path d="M${f(x)} ${f(y - r - 2)}L${f(x + r + 2)} ${f(y)}L${f(x)} ${f(y + r + 2)}L${f(x - r - 2)} ${f(y)}Z" fill="${colour}"/>`;
    default:
      return `<circle cx="${f(x)}" cy="${f(y)}" r="${r}" fill="${colour}"/>`;
  }
}

/** The timeline as an SVG document. */
export function renderTimelineSvg(timeline: Timeline): string {
  const layout = layoutTimeline(timeline);
  const { width, height } = layout;
  const out: string[] = [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">`,
    `<title>${escape(`connection ${timeline.connectionId}`)}</title>`,
    `<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="16" y="28" font-size="18" font-weight="bold">${escape(`connection ${timeline.connectionId}`)}</text>`,
    `<text x="16" y="50" font-size="13" fill="#444444">${escape(
      timeline.marks.length === 0
        ? "no events in the log"
        : `${timeline.marks.length} events, ${new Date(timeline.start).toISOString()} .. ${new Date(timeline.end).toISOString()} (${seconds(timeline.end - timeline.start)} s)`,
    )}</text>`,
  ];
  const right = width - RIGHT_MARGIN;
  layout.lanes.forEach((lane, i) => {
    const mid = lane.top + lane.height / 2;
    out.push(`<rect x="0" y="${lane.top}" width="${width}" height="${lane.height}" fill="${i % 2 === 0 ? "#f7f7f7" : "#ffffff"}"/>`);
    out.push(`<text x="16" y="${mid + 5}" font-size="14">${escape(lane.label)}</text>`);
    out.push(`<line x1="${LABEL_WIDTH}" y1="${mid}" x2="${right}" y2="${mid}" stroke="#cccccc" stroke-width="1"/>`);
  });
  // The connection's state between one mark and the next, on this proxy's lane (the Request's).
  const own = timeline.marks.find(m => m.kind === "REQUEST")?.lane ?? timeline.marks[0]?.lane;
  if (own !== undefined) {
    const y = TOP + own * LANE_HEIGHT + LANE_HEIGHT / 2;
    let state: keyof typeof BAR_COLOURS = "up";
    timeline.marks.forEach((m, i) => {
      if (m.kind === "DOWN") state = "down";
      else if (m.kind === "DELETE") state = "gone";
      else if (m.kind === "REQUEST" || m.kind === "UPDATE" || m.kind === "HEAL") state = "up";
      const next = layout.marks[i + 1];
      if (!next) return;
      const from = layout.marks[i]!.x;
      out.push(`<rect x="${from.toFixed(1)}" y="${(y - 4).toFixed(1)}" width="${Math.max(0, next.x - from).toFixed(1)}" height="8" fill="${BAR_COLOURS[state]}"/>`);
    });
  }
  // Marks, their words alternately above and below the lane's line (alternating per lane).
  const onLane = new Map<number, number>();
  timeline.marks.forEach((mark, i) => {
    const at = layout.marks[i]!;
    out.push(`<g>${shape(at)}<title>${escape(`${mark.kind} ${clockTime(mark.at)} ${mark.position}${mark.note ? ` ${mark.note}` : ""}`)}</title></g>`);
    const nth = onLane.get(mark.lane) ?? 0;
    onLane.set(mark.lane, nth + 1);
    const above = nth % 2 === 0;
    const anchor = at.x > right - 150 ? "end" : at.x < LABEL_WIDTH + 60 ? "start" : "middle";
    const y = above ? at.y - 16 : at.y + 26;
    out.push(`<text x="${at.x.toFixed(1)}" y="${y.toFixed(1)}" font-size="12" text-anchor="${anchor}" fill="${at.colour}" font-weight="bold">${escape(`${mark.kind} +${seconds(mark.at - timeline.start)}s`)}</text>`);
    if (mark.reason || mark.note) {
      out.push(`<text x="${at.x.toFixed(1)}" y="${(y + (above ? -14 : 14)).toFixed(1)}" font-size="11" text-anchor="${anchor}" fill="#333333">${escape(mark.reason ?? mark.note ?? "")}</text>`);
    }
  });
  // Time axis.
  const axisY = height - AXIS_HEIGHT + 20;
  out.push(`<line x1="${LABEL_WIDTH}" y1="${axisY}" x2="${right}" y2="${axisY}" stroke="#333333"/>`);
  const ticks = 4;
  let lastTick = -Infinity;
  for (let t = 0; t <= ticks; t++) {
    const at = timeline.start + ((timeline.end - timeline.start) * t) / ticks;
    const x = layout.x(at);
    // A stretched scale can bring ticks together: one whose words would touch the last is left out.
    if (x - lastTick < 190 && t !== ticks) continue;
    lastTick = x;
    out.push(`<line x1="${x.toFixed(1)}" y1="${axisY}" x2="${x.toFixed(1)}" y2="${axisY + 6}" stroke="#333333"/>`);
    const anchor = t === 0 ? "start" : t === ticks ? "end" : "middle";
    out.push(`<text x="${x.toFixed(1)}" y="${axisY + 22}" font-size="11" text-anchor="${anchor}" fill="#333333">${escape(`${clockTime(at)} (+${seconds(at - timeline.start)}s)`)}</text>`);
  }
  out.push(`<text x="16" y="${axisY + 4}" font-size="11" fill="#333333">time (UTC)</text>`);
  out.push(`</svg>`);
  return out.join("\n") + "\n";
}
