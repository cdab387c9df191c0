/**
 * Monitor streams served from the event log, the parts both generations share: a monitor event as
 * the log keeps it for delivery (protobuf bytes, base64, in an entry's `wire`), log entries turned
 * back into events that carry their position (transport/grpc/event-positions.ts puts it on the
 * wire as field 1000) and are sent as the bytes the log holds, and the check of a subscriber's
 * resume position (`pnsmgr-resume-after`): malformed is INVALID_ARGUMENT, older than what the log
 * has trimmed is OUT_OF_RANGE (resuming would silently skip events: the client must start afresh).
 */
import { Code, ProxyError } from "../pipeline/errors.js";
import { type EventEntry, type EventLog, comparePositions, parsePosition } from "../state/event-log.js";
import { type ConnectionEvent, ConnectionEvent as ConnectionEventCodec } from "../../generated/nsm/connection.js";
import { type Positioned, withEncoding } from "../transport/grpc/event-positions.js";

/** Request metadata: resume after this event log position. */
export const RESUME_METADATA = "pnsmgr-resume-after";

export type PositionedEvent = ConnectionEvent & Positioned;

/** A ConnectionEvent as the log keeps it for delivery: protobuf bytes, base64. */
export function encodeEvent(event: ConnectionEvent): string {
  return Buffer.from(ConnectionEventCodec.encode(event).finish()).toString("base64");
}

export function decodeEvent(wire: string): ConnectionEvent {
  return ConnectionEventCodec.decode(Buffer.from(wire, "base64"));
}

/**
 * Turns entries into the events they deliver (undefined for entries without one), one object per
 * entry however many local subscribers write it, sent as the log's bytes (never encoded again).
 */
export function entryEvents(): (entry: EventEntry) => PositionedEvent | undefined {
  const decoded = new WeakMap<EventEntry, PositionedEvent>();
  return entry => {
    if (entry.wire === undefined) return undefined;
    let event = decoded.get(entry);
    if (!event) {
      const bytes = Buffer.from(entry.wire, "base64");
      event = withEncoding({ ...ConnectionEventCodec.decode(bytes), pnsmgrPosition: entry.position }, bytes);
      decoded.set(entry, event);
    }
    return event;
  };
}

/** Refuses a resume position that is not one (INVALID_ARGUMENT) or that the log has trimmed past (OUT_OF_RANGE). */
export async function checkResumePosition(events: EventLog, resumeAfter: string): Promise<void> {
  parsePosition(resumeAfter);
  const trimmed = await events.trimmedThrough();
  if (comparePositions(resumeAfter, trimmed) < 0) {
    throw new ProxyError(
      Code.OUT_OF_RANGE,
      `${RESUME_METADATA} ${resumeAfter}: the event log no longer holds every event after it (trimmed through ${trimmed}); subscribe again without it`,
    );
  }
}
