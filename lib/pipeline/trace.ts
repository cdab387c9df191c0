/**
 * Tracing switched on by an environment variable, like grpc-js's GRPC_TRACE:
 * PNSMGR_TRACE=all traces every element, PNSMGR_TRACE=route,swap-ip only those.
 * A trace line goes to stderr: `trace <callId> <element> <event> <detail>`.
 */
let counter = 0;

export function traceCallId(): string {
  counter = (counter + 1) % 0x1000000;
  return counter.toString(36).padStart(4, "0");
}

export type TraceSink = (line: string) => void;

interface TraceSettings {
  all: boolean;
  names: Set<string>;
  sink: TraceSink;
}

const settings: TraceSettings = parseTraceSetting(process.env.PNSMGR_TRACE);

export function parseTraceSetting(value: string | undefined, sink: TraceSink = line => process.stderr.write(`${line}\n`)): TraceSettings {
  const names = new Set((value ?? "").split(",").map(s => s.trim()).filter(Boolean));
  return { all: names.has("all") || names.has("*"), names, sink };
}

/** Replaces the trace setting at run time (tests, the CLI's --trace flag). */
export function setTracing(value: string | undefined, sink?: TraceSink): void {
  Object.assign(settings, parseTraceSetting(value, sink));
}

export function isTraced(name: string): boolean {
  return settings.all || settings.names.has(name);
}

export function traceLine(callId: string, name: string, event: string, detail = ""): void {
  settings.sink(`trace ${callId} ${name} ${event}${detail ? ` ${detail}` : ""}`);
}

/** A short, single-line rendering of a value for trace output. */
export function brief(value: unknown, max = 200): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
