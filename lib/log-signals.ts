/**
 * NSM's run-time level switch, as its commands set it up (logruslogger.SetupLevelChangeOnSignal):
 * SIGUSR1 turns the level to TRACE, SIGUSR2 back to the configured level (NSM_LOG_LEVEL). At TRACE
 * pnsmgr also traces every pipeline element (as PNSMGR_TRACE=all, through the logger), the nearest
 * thing to NSM's per-element trace logs; SIGUSR2 restores PNSMGR_TRACE's own setting.
 *
 * A SIGUSR1 listener also keeps Node from opening its inspector on that signal.
 */
import type { LevelledLogger, Level } from "./log.js";
import { setTracing } from "./pipeline/trace.js";

export interface LevelSignalOptions {
  /** The level SIGUSR2 returns to. */
  configured: Level;
  /** PNSMGR_TRACE, restored when the level leaves TRACE. */
  trace: string | undefined;
  /** Process-like signal source (tests pass an EventEmitter). */
  signals?: Pick<NodeJS.Process, "on" | "off">;
}

/** Applies `level` (element tracing included) and logs the change. */
export function applyLevel(log: LevelledLogger, level: Level, trace: string | undefined): void {
  log.setLevel(level);
  setTracing(level === "trace" ? "all" : trace, line => log.elementTrace(line));
}

/** Installs the SIGUSR1/SIGUSR2 handlers; returns their removal. */
export function watchLevelSignals(log: LevelledLogger, options: LevelSignalOptions): () => void {
  const signals = options.signals ?? process;
  const to = (level: Level, signal: string) => () => {
    applyLevel(log, level, options.trace);
    log.info("log level set", { logLevel: level.toUpperCase(), signal });
  };
  const onUsr1 = to("trace", "SIGUSR1");
  const onUsr2 = to(options.configured, "SIGUSR2");
  signals.on("SIGUSR1", onUsr1);
  signals.on("SIGUSR2", onUsr2);
  return () => {
    signals.off("SIGUSR1", onUsr1);
    signals.off("SIGUSR2", onUsr2);
  };
}
