/**
 * The admin service pnsmgr.admin.Events: `Read` replays (and with `follow` tails) this gateway's
 * monitor event log, from its own state store. So `pnsmgr events --gateway` works against a single
 * gateway on the in-memory store, and against any replica when they share Redis.
 */
import { defer, map } from "rxjs";
import type { Handler } from "../pipeline/element.js";
import { sendReady } from "../pipeline/context.js";
import { invalidArgument } from "../pipeline/errors.js";
import type { EventEntry, EventLog } from "../state/event-log.js";
import type { EventEntry as EventEntryMessage, EventQuery } from "../../generated/pnsmgr/admin.js";
import { type EventsRequest, queryEvents } from "./query-events.js";

export interface AdminService {
  readEvents: Handler<EventQuery, EventEntryMessage>;
}

export function createAdminService(events: EventLog): AdminService {
  return {
    readEvents: (query, ctx) => {
      const ready = ctx.get(sendReady);
      return defer(() => queryEvents(events, eventsRequest(query), ready ? { ready } : {})).pipe(map(entryMessage));
    },
  };
}

/** The wire query as a request: empty strings and zeros mean "not given". */
export function eventsRequest(query: EventQuery): EventsRequest {
  return {
    ...(query.connectionId !== "" ? { connectionId: query.connectionId } : {}),
    ...(query.peer !== "" ? { peer: query.peer } : {}),
    ...(query.fromMs !== "0" ? { from: epochMs("from_ms", query.fromMs) } : {}),
    ...(query.toMs !== "0" ? { to: epochMs("to_ms", query.toMs) } : {}),
    ...(query.after !== "" ? { after: query.after } : {}),
    ...(query.follow ? { follow: true } : {}),
    ...(query.limit !== 0 ? { limit: query.limit } : {}),
  };
}

export function entryMessage(entry: EventEntry): EventEntryMessage {
  return {
    position: entry.position,
    atMs: String(Math.trunc(entry.at)),
    type: entry.type,
    peer: entry.peer,
    connectionIds: [...entry.connectionIds],
    payloadJson: JSON.stringify(entry.payload) ?? "null",
    endReason: entry.end?.reason ?? "",
    endHop: entry.end?.hop ?? "",
    endDetail: entry.end?.detail ?? "",
  };
}

function epochMs(field: string, text: string): number {
  const value = Number(text);
  if (!(Number.isSafeInteger(value) && value > 0)) throw invalidArgument(`event query: ${field} must be epoch ms, got ${text}`);
  return value;
}
