/**
 * The pnsmgr command (lib/cli/pnsmgr.ts is its executable entry):
 *   pnsmgr serve            the gateway (what lib/main.ts runs: configured by environment variables)
 *   pnsmgr events [flags]   replay / follow the monitor event log (pnsmgr events --help)
 * Exit codes: 0 ok, 1 failure (a source unreachable), 2 bad usage.
 */
import { once } from "node:events";
import { runEvents, type CliIo } from "./events.js";

const USAGE = `usage: pnsmgr <command>

commands:
  serve     run the gateway (configured by environment variables; see the README)
  events    replay the monitor events that crossed the proxy; --follow tails them (pnsmgr events --help)`;

/** Exits once everything written to stdout has been handed to the OS. */
function exit(code: number): void {
  process.stdout.write("", () => process.exit(code));
}

function processIo(): CliIo {
  return {
    env: process.env,
    now: () => Date.now(),
    out: line => void process.stdout.write(`${line}\n`),
    drained: () => (process.stdout.writableNeedDrain ? once(process.stdout, "drain").then(() => undefined) : Promise.resolve()),
    err: line => void process.stderr.write(`${line}\n`),
    onSignal(stop) {
      const handler = () => stop();
      process.once("SIGINT", handler);
      process.once("SIGTERM", handler);
      return () => {
        process.off("SIGINT", handler);
        process.off("SIGTERM", handler);
      };
    },
  };
}

/** Runs one pnsmgr command line (the arguments after "pnsmgr"). */
export async function pnsmgr(args: readonly string[]): Promise<void> {
  const [command, ...rest] = args;
  // A reader that goes away (`pnsmgr events | head`) ends the command quietly.
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") process.exit(0);
    throw error;
  });
  switch (command) {
    case "serve":
      if (rest.length > 0) {
        process.stderr.write("pnsmgr serve: takes no arguments (it is configured by environment variables, see the README)\n");
        exit(2);
        break;
      }
      // lib/main.ts starts the gateway when it is loaded, exactly as `node lib/main.ts` does.
      await import("../main.js");
      break;
    case "events":
      try {
        exit(await runEvents(rest, processIo()));
      } catch (error: unknown) {
        process.stderr.write(`pnsmgr events: ${error instanceof Error ? error.message : String(error)}\n`);
        exit(1);
      }
      break;
    case "help":
    case "--help":
    case "-h":
      process.stdout.write(`${USAGE}\n`);
      exit(0);
      break;
    default:
      process.stderr.write(command === undefined ? `${USAGE}\n` : `pnsmgr: unknown command ${JSON.stringify(command)} (serve, events)\n`);
      exit(2);
  }
}
