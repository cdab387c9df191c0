/**
 * The form in which the event log keeps a feed's events for delivery: the ConnectionEvent's protobuf
 * bytes, base64. Written once per event by the feed's holder; client streams send those bytes as they
 * are (feed-streams.ts), never encoding the event again.
 */
import { type ConnectionEvent, ConnectionEvent as ConnectionEventCodec } from "../../../generated/nsm/connection.js";

export function encode(event: ConnectionEvent): string {
  return Buffer.from(ConnectionEventCodec.encode(event).finish()).toString("base64");
}

export function decode(wire: string): ConnectionEvent {
  return decodeBytes(Buffer.from(wire, "base64"));
}

export function decodeBytes(bytes: Uint8Array): ConnectionEvent {
  return ConnectionEventCodec.decode(bytes);
}
