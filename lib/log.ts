/**
 * The leveled logger every file uses, built on pino. Two formats: `text` (the default), one readable
 * line per event on stderr, `<time> <level> <msg> key=value…`; and `json` (PNSMGR_LOG_FORMAT=json),
 * pino's JSON lines. Both write through one pino destination (sonic-boom, asynchronous, flushed on
 * exit), and a message below the level costs one comparison. The level can change at run time
 * (setLevel; NSM's SIGUSR1/SIGUSR2 switch is in log-signals.ts).
 */
import { pino, type DestinationStream } from "pino";

export type Level = "trace" | "debug" | "info" | "warn" | "error";
export const LEVELS: readonly Level[] = ["trace", "debug", "info", "warn", "error"];
export type LogFormat = "text" | "json";

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

/** The process logger: a Logger whose level can be read and changed, with NSM's TRACE level. */
export interface LevelledLogger extends Logger {
  trace(msg: string, fields?: Record<string, unknown>): void;
  readonly level: Level;
  setLevel(level: Level): void;
  /**
   * An element trace line (PNSMGR_TRACE, or every element at TRACE): written whatever the level, since
   * the element selection already chose it; as it always was in text, a trace-level record in JSON.
   */
  elementTrace(line: string): void;
}

export function isLevelled(log: Logger): log is LevelledLogger {
  return "elementTrace" in log && "setLevel" in log;
}

export interface LoggerOptions {
  /** Where lines go (without their newline); stderr by default. */
  write?: (line: string) => void;
  format?: LogFormat;
}

/** NSM_LOG_LEVEL's names (TRACE, DEBUG, INFO, WARN, ERROR; any case; WARNING too) as a Level, or undefined. */
export function parseLevel(text: string): Level | undefined {
  const lower = text.trim().toLowerCase();
  if (lower === "warning") return "warn";
  return (LEVELS as readonly string[]).includes(lower) ? (lower as Level) : undefined;
}

export function createLogger(level: Level = "info", write?: (line: string) => void, format: LogFormat = "text"): LevelledLogger {
  return createLoggerWith(level, { ...(write ? { write } : {}), format });
}

export function createLoggerWith(level: Level, options: LoggerOptions = {}): LevelledLogger {
  const destination: DestinationStream = options.write
    ? { write: (chunk: string) => options.write!(chunk.endsWith("\n") ? chunk.slice(0, -1) : chunk) }
    : stderr();
  const json = options.format === "json";
  const logger = pino(
    {
      level,
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: label => ({ level: label }) },
    },
    destination,
  );
  const emit = (at: Level) => (msg: string, fields?: Record<string, unknown>) => {
    if (!logger.isLevelEnabled(at)) return;
    if (json) logger[at](fields ? withoutReserved(fields) : {}, msg);
    else destination.write(`${textLine(at, msg, fields)}\n`);
  };
  return {
    trace: emit("trace"),
    debug: emit("debug"),
    info: emit("info"),
    warn: emit("warn"),
    error: emit("error"),
    get level() {
      return logger.level as Level;
    },
    setLevel(next: Level) {
      logger.level = next;
    },
    elementTrace(line: string) {
      destination.write(json ? `${JSON.stringify({ level: "trace", time: new Date().toISOString(), msg: line })}\n` : `${line}\n`);
    },
  };
}

/** pino's own keys (level, time, msg) in a field would make a line with duplicate keys: such a field gets a "_" prefix. */
function withoutReserved(fields: Record<string, unknown>): Record<string, unknown> {
  if (!("level" in fields || "time" in fields || "msg" in fields)) return fields;
  const out: Record<string, unknown> = {};
  for (const key in fields) out[key === "level" || key === "time" || key === "msg" ? `_${key}` : key] = fields[key];
  return out;
}

let shared: DestinationStream | undefined;

/** One asynchronous stderr destination for every logger of the process (flushed on exit by pino). */
function stderr(): DestinationStream {
  shared ??= pino.destination({ dest: 2, sync: false });
  return shared;
}

function textLine(at: Level, msg: string, fields: Record<string, unknown> | undefined): string {
  let line = `${new Date().toISOString()} ${at} ${msg}`;
  if (fields) {
    for (const key in fields) {
      const value = fields[key];
      line += ` ${key}=${typeof value === "string" && !/\s/.test(value) ? value : JSON.stringify(value)}`;
    }
  }
  return line;
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
