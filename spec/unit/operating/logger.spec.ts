/** lib/log.ts on pino and lib/log-signals.ts: formats, levels, NSM_LOG_LEVEL names, the SIGUSR1/SIGUSR2 switch. */
import test from "ava";
import { EventEmitter } from "node:events";
import { createLogger, parseLevel } from "../../../lib/log.js";
import { watchLevelSignals } from "../../../lib/log-signals.js";
import { isTraced, setTracing, traceLine } from "../../../lib/pipeline/trace.js";

test.afterEach.always(() => setTracing(undefined));

test("text: one readable line per event, time level msg key=value", t => {
  const lines: string[] = [];
  const log = createLogger("info", line => lines.push(line));
  log.info("pnsmgr serving", { v1: "127.0.0.1:5004", nodes: 3, note: "two words" });
  t.is(lines.length, 1);
  t.regex(lines[0]!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z info pnsmgr serving v1=127\.0\.0\.1:5004 nodes=3 note="two words"$/);
});

test("json: pino lines with level, time, msg and the fields; pino's own keys in fields do not clash", t => {
  const lines: string[] = [];
  const log = createLogger("debug", line => lines.push(line), "json");
  log.warn("call failed", { method: "/x.Y/Z", code: "UNAVAILABLE" });
  log.debug("odd", { level: "mine", msg: "also mine" });
  const [first, second] = lines.map(line => JSON.parse(line) as Record<string, unknown>);
  t.like(first, { level: "warn", msg: "call failed", method: "/x.Y/Z", code: "UNAVAILABLE" });
  t.regex(String(first?.time), /^\d{4}-\d\d-\d\dT/);
  t.like(second, { level: "debug", msg: "odd", _level: "mine", _msg: "also mine" });
});

test("levels filter, and setLevel changes them at run time", t => {
  const lines: string[] = [];
  const log = createLogger("warn", line => lines.push(line));
  log.info("hidden");
  log.debug("hidden");
  log.error("shown");
  log.setLevel("trace");
  log.trace("now shown");
  t.deepEqual(lines.map(line => line.split(" ").slice(1, 3).join(" ")), ["error shown", "trace now"]);
  t.is(log.level, "trace");
});

test("NSM_LOG_LEVEL names in any case; WARNING too; others are not levels", t => {
  t.deepEqual(["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "Warning", "info"].map(parseLevel), ["trace", "debug", "info", "warn", "error", "warn", "info"]);
  t.is(parseLevel("FATAL"), undefined);
  t.is(parseLevel(""), undefined);
});

test("SIGUSR1 turns the level to trace with every element traced through the logger; SIGUSR2 restores the configured level and PNSMGR_TRACE", t => {
  const lines: string[] = [];
  const log = createLogger("info", line => lines.push(line));
  const signals = new EventEmitter();
  const stop = watchLevelSignals(log, { configured: "info", trace: "route", signals: signals as unknown as NodeJS.Process });
  setTracing("route");
  signals.emit("SIGUSR1");
  t.is(log.level, "trace");
  t.true(isTraced("swap-ip"), "every element traced at TRACE");
  t.regex(lines.at(-1)!, / info log level set logLevel=TRACE signal=SIGUSR1$/);
  traceLine("0001", "swap-ip", "request", "x");
  t.is(lines.at(-1), "trace 0001 swap-ip request x", "element traces reach the logger's destination");
  signals.emit("SIGUSR2");
  t.is(log.level, "info");
  t.false(isTraced("swap-ip"));
  t.true(isTraced("route"), "PNSMGR_TRACE's own selection is back");
  t.regex(lines.at(-1)!, / info log level set logLevel=INFO signal=SIGUSR2$/);
  traceLine("0002", "route", "request", "y");
  t.is(lines.at(-1), "trace 0002 route request y", "PNSMGR_TRACE's lines are written at any level");
  stop();
  signals.emit("SIGUSR1");
  t.is(log.level, "info", "no handler after stop");
});

test("json: element trace lines are trace-level records", t => {
  const lines: string[] = [];
  const log = createLogger("info", line => lines.push(line), "json");
  log.elementTrace("trace 0003 route complete");
  t.like(JSON.parse(lines[0]!), { level: "trace", msg: "trace 0003 route complete" });
});
