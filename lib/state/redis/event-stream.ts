/**
 * The event log's entries as Redis Stream fields (see keys.ts for the field names) and back, shared by
 * the appends (event-log.ts, feeds.ts) and the readers (event-log.ts, event-follow.ts).
 */
import { Code, ProxyError } from "../../pipeline/errors.js";
import { type EventEnd, type EventEntry, type EventInput, encodePayload, isEventEnd } from "../event-log.js";

/** Entries fetched per XRANGE page when filtering or reading a follower's backlog, and per XREAD of the follow tail. */
export const PAGE = 500;

/** An entry's stream fields (see the key layout); f, w and e only when given. */
export function encodeFields(event: EventInput): string[] {
  const fields = ["c", JSON.stringify(event.connectionIds), "p", event.peer, "t", event.type, "d", encodePayload(event.payload), "a", String(event.at)];
  if (event.feed !== undefined) fields.push("f", event.feed);
  if (event.wire !== undefined) fields.push("w", event.wire);
  if (event.end !== undefined) fields.push("e", JSON.stringify(event.end));
  return fields;
}

export function decodeEntry(id: string, fields: string[]): EventEntry {
  const map = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) map.set(fields[i]!, fields[i + 1]!);
  const feed = map.get("f");
  const wire = map.get("w");
  const end = map.get("e");
  try {
    return {
      position: id,
      connectionIds: JSON.parse(map.get("c") ?? "[]") as string[],
      peer: map.get("p") ?? "",
      type: map.get("t") ?? "",
      payload: JSON.parse(map.get("d") ?? "null") as unknown,
      at: Number(map.get("a") ?? 0),
      ...(feed !== undefined ? { feed } : {}),
      ...(wire !== undefined ? { wire } : {}),
      ...(end !== undefined ? { end: decodeEnd(end) } : {}),
    };
  } catch (error: unknown) {
    throw new ProxyError(Code.DATA_LOSS, `state store: event ${id} is not readable: ${(error as Error).message}`, { cause: error });
  }
}

/** An entry's end; one this reader cannot make sense of (a newer writer) is kept as its text. */
function decodeEnd(text: string): EventEnd {
  let end: unknown;
  try {
    end = JSON.parse(text);
  } catch {
    end = undefined;
  }
  return isEventEnd(end) ? end : { reason: text, hop: "" };
}
