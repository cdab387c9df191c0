/**
 * `pnsmgr events`: replays the monitor event log, and with --follow tails it, from one of two sources:
 *  - a gateway's admin service (pnsmgr.admin.Events/Read on any of its listeners), which reads the
 *    gateway's own store, so it works against a single gateway on the in-memory store;
 *  - a Redis store directly (--redis, or REDIS_URL / PNSMGR_REDIS_SENTINELS), the same stream the
 *    replicas append to, read with the same query code the admin service runs (query-events.ts).
 * Exit codes: 0 done or stopped by SIGINT/SIGTERM, 1 source unreachable or lost (the message names
 * the last position printed, to resume with --after), 2 bad flags.
 */
import { type Observable, firstValueFrom, map } from "rxjs";
import { createCallContext } from "../pipeline/context.js";
import { Code, ProxyError } from "../pipeline/errors.js";
import { createClientPool } from "../transport/grpc/client-pool.js";
import { trustedDestination } from "../guard/destination-guard.js";
import { createStateStore } from "../state/state.js";
import type { EventEntry } from "../state/event-log.js";
import { type EventsRequest, queryEvents } from "../admin/query-events.js";
import { EventsService, type EventEntry as EventEntryMessage, type EventQuery } from "../../generated/pnsmgr/admin.js";
import { HealthService } from "../../generated/nsm/health.js";
import { CliError, EVENTS_USAGE, type EventsSource, parseEventsArgs } from "./events-args.js";
import { formatJson, formatReadable } from "./format.js";
import { createPicture } from "./timeline-output.js";

export interface CliIo {
  readonly env: Readonly<Record<string, string | undefined>>;
  now(): number;
  /** Writes one line to stdout. */
  out(line: string): void;
  /** Resolves when stdout has taken what was written (a replay read straight from Redis waits for it). */
  drained?(): Promise<void>;
  /** Writes one line to stderr. */
  err(line: string): void;
  /** Calls `stop` on SIGINT or SIGTERM; returns a function that removes the handlers. */
  onSignal(stop: () => void): () => void;
}

/** How long the CLI waits for a source to answer before it reports it unreachable. */
export const CONNECT_TIMEOUT_MS = 3000;

interface OpenSource {
  /** "the gateway at 127.0.0.1:5006" / "redis 127.0.0.1:6379": for messages. */
  readonly name: string;
  read(request: EventsRequest): Observable<EventEntry>;
  close(): Promise<void>;
}

export async function runEvents(args: readonly string[], io: CliIo): Promise<number> {
  let command;
  try {
    command = parseEventsArgs(args, io.env, io.now());
  } catch (error: unknown) {
    if (!(error instanceof CliError)) throw error;
    io.err(`pnsmgr events: ${error.message}`);
    return error.exitCode;
  }
  if (command.help) {
    io.out(EVENTS_USAGE);
    return 0;
  }
  const { options } = command;
  let source: OpenSource;
  try {
    source = await openSource(options.source, io);
  } catch (error: unknown) {
    io.err(`pnsmgr events: ${messageOf(error)}`);
    return 1;
  }
  const format = options.json ? formatJson : formatReadable;
  // --timeline / --svg: collect the connection's entries, draw them once the replay is done.
  const picture = options.timeline || options.svg !== undefined ? createPicture(options, io) : undefined;
  let last: string | undefined;
  try {
    return await new Promise<number>(resolve => {
      let removeSignals = () => {};
      const done = (code: number) => {
        removeSignals();
        resolve(code);
      };
      const subscription = source.read(options.request).subscribe({
        next: entry => {
          last = entry.position;
          if (picture) picture.add(entry);
          else io.out(format(entry));
        },
        error: (error: unknown) => {
          const e = ProxyError.from(error, Code.UNAVAILABLE);
          if (e.code === Code.INVALID_ARGUMENT) {
            io.err(`pnsmgr events: ${source.name} refused the query: ${messageOf(e)}`);
            return done(2);
          }
          if (e.code === Code.UNIMPLEMENTED) {
            io.err(`pnsmgr events: ${source.name} does not serve ${EventsService.read.path} (a pnsmgr without event replay?)`);
            return done(1);
          }
          io.err(`pnsmgr events: lost ${source.name}: ${messageOf(e)}${last ? `; resume with --after ${last}` : ""}`);
          done(1);
        },
        complete: () => done(picture ? picture.draw() : 0),
      });
      if (!subscription.closed) {
        removeSignals = io.onSignal(() => {
          subscription.unsubscribe();
          done(0);
        });
      }
    });
  } finally {
    await source.close();
  }
}

async function openSource(source: EventsSource, io: CliIo): Promise<OpenSource> {
  if (source.kind === "redis") {
    const options = { ...source.options, startupTimeoutMs: CONNECT_TIMEOUT_MS };
    let store;
    try {
      store = await createStateStore(options);
    } catch (error: unknown) {
      throw new Error(`cannot reach Redis: ${messageOf(error)}`);
    }
    const events = store.events;
    const ready = io.drained?.bind(io);
    return { name: store.description, read: request => queryEvents(events, request, ready ? { ready } : {}), close: () => store.close() };
  }
  const { address } = source;
  const name = `the gateway at ${address}`;
  const pool = createClientPool();
  // The operator named this address on the command line: trusted, parsed, dialled as written.
  const gateway = trustedDestination(address);
  try {
    const ctx = createCallContext({ method: HealthService.check.path, deadline: Date.now() + CONNECT_TIMEOUT_MS });
    await firstValueFrom(pool.unary(gateway, HealthService.check, { service: "" }, ctx));
  } catch (error: unknown) {
    pool.close();
    throw new Error(`cannot reach ${name}: ${messageOf(error)}`);
  }
  return {
    name,
    read: request => {
      const ctx = createCallContext({ method: EventsService.read.path });
      return pool.serverStream(gateway, EventsService.read, eventQuery(request), ctx).pipe(map(entryOf));
    },
    close: async () => pool.close(),
  };
}

/** The request as the admin service's wire query (unset: "" / 0). */
export function eventQuery(request: EventsRequest): EventQuery {
  return {
    connectionId: request.connectionId ?? "",
    peer: request.peer ?? "",
    fromMs: String(request.from ?? 0),
    toMs: String(request.to ?? 0),
    after: request.after ?? "",
    follow: request.follow ?? false,
    limit: request.limit ?? 0,
  };
}

export function entryOf(message: EventEntryMessage): EventEntry {
  let payload: unknown;
  try {
    payload = JSON.parse(message.payloadJson) as unknown;
  } catch {
    payload = message.payloadJson;
  }
  return {
    position: message.position,
    at: Number(message.atMs),
    type: message.type,
    peer: message.peer,
    connectionIds: message.connectionIds,
    payload,
    ...(message.endReason !== "" ? { end: { reason: message.endReason, hop: message.endHop, ...(message.endDetail !== "" ? { detail: message.endDetail } : {}) } } : {}),
  };
}

function messageOf(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.replace(/^next hop \S+: /, "").replace(/\.? Resolution note: *$/, "");
}
