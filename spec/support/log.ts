/** A Logger that records what it is told (not a test file), for tests of what is logged and how often. */
import type { Logger } from "../../lib/log.js";

export interface LogLine {
  level: string;
  msg: string;
  fields: Record<string, unknown>;
}

export type RecordingLog = Logger & {
  readonly lines: LogLine[];
  /** The messages logged at `level`, oldest first. */
  messages(level: "debug" | "info" | "warn" | "error"): string[];
};

export function recordingLog(): RecordingLog {
  const lines: LogLine[] = [];
  const at = (level: string) => (msg: string, fields: Record<string, unknown> = {}) => void lines.push({ level, msg, fields });
  return {
    lines,
    messages: level => lines.filter(l => l.level === level).map(l => l.msg),
    debug: at("debug"),
    info: at("info"),
    warn: at("warn"),
    error: at("error"),
  };
}
