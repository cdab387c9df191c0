/**
 * Writes a monitor event's log position onto the wire. A handler that knows where an event sits in
 * the event log sets `pnsmgrPosition` on the ConnectionEvent object it emits; this serializer
 * appends the EventPosition field (number 1000) after NSM's own fields. Protobuf messages may be
 * concatenated, so the result is one ConnectionEvent to NSM clients (which skip the unknown field)
 * and an EventPosition to clients that look for it (protos/pnsmgr/monitor.proto).
 */
import type { ServiceDefinition } from "@grpc/grpc-js";
import { EventPosition } from "../../../generated/pnsmgr/monitor.js";

/** What a handler sets on an emitted event object to send its position along. */
export interface Positioned {
  readonly pnsmgrPosition?: string;
}

// Events whose protobuf encoding is already known (kept by identity: a copy of the object, which may
// differ, is encoded afresh), so the relay sends the bytes it stored instead of encoding them again.
const knownEncodings = new WeakMap<object, Uint8Array>();

/** Marks `event` as encoding to `bytes` (without its position); returns it. */
export function withEncoding<T extends object>(event: T, bytes: Uint8Array): T {
  knownEncodings.set(event, bytes);
  return event;
}

export function withEventPositions<S extends ServiceDefinition>(definition: S): S {
  const wrapped: Record<string, unknown> = {};
  for (const [name, method] of Object.entries(definition)) {
    const encode = method.responseSerialize as (value: unknown) => Buffer;
    wrapped[name] = {
      ...method,
      responseSerialize: (value: unknown): Buffer => {
        const known = typeof value === "object" && value !== null ? knownEncodings.get(value) : undefined;
        const bytes = known === undefined ? encode(value) : Buffer.from(known.buffer, known.byteOffset, known.byteLength);
        const position = (value as Positioned | null)?.pnsmgrPosition;
        if (typeof position !== "string" || position === "") return bytes;
        return Buffer.concat([bytes, EventPosition.encode({ pnsmgrPosition: position }).finish()]);
      },
    };
  }
  return wrapped as S;
}

/** The position written onto an encoded event, "" when there is none. */
export function eventPositionOf(bytes: Uint8Array): string {
  return EventPosition.decode(bytes).pnsmgrPosition;
}
