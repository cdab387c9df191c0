/**
 * `pnsmgr events --connection ID --timeline / --svg FILE`: gathers the replayed entries of the
 * connection, then prints the terminal timeline (timeline.ts) and/or writes the SVG (timeline-svg.ts).
 * With --svg alone, --json or readable lines are still printed, so the picture comes with the text.
 */
import { writeFileSync } from "node:fs";
import type { EventEntry } from "../state/event-log.js";
import type { EventsOptions } from "./events-args.js";
import { formatJson, formatReadable } from "./format.js";
import { buildTimeline, renderTimeline } from "./timeline.js";
import { renderTimelineSvg } from "./timeline-svg.js";

export interface Picture {
  add(entry: EventEntry): void;
  /** Draws what was gathered; the exit code (1 when the SVG cannot be written). */
  draw(): number;
}

/** Where the picture's lines go: stdout and stderr, one line each (the CLI's io). */
export interface LineOutput {
  out(line: string): void;
  err(line: string): void;
}

export function createPicture(options: EventsOptions, io: LineOutput): Picture {
  const entries: EventEntry[] = [];
  const connectionId = options.request.connectionId ?? "";
  const format = options.json ? formatJson : formatReadable;
  return {
    add(entry) {
      entries.push(entry);
      if (!options.timeline) io.out(format(entry));
    },
    draw() {
      const timeline = buildTimeline(connectionId, entries);
      if (options.timeline) for (const line of renderTimeline(timeline)) io.out(line);
      if (options.svg === undefined) return 0;
      try {
        writeFileSync(options.svg, renderTimelineSvg(timeline));
      } catch (error: unknown) {
        io.err(`pnsmgr events: cannot write the SVG to ${options.svg}: ${(error as Error).message}`);
        return 1;
      }
      io.err(`pnsmgr events: wrote the timeline of ${connectionId} (${entries.length} events) to ${options.svg}`);
      return 0;
    },
  };
}
