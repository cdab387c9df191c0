/**
 * The monitor serializer: an event whose encoding the relay already holds is sent as those bytes (with
 * its position appended), a copy of it is encoded afresh, and what goes out decodes to the event and
 * its position either way.
 */
import test from "ava";
import type { ServiceDefinition } from "@grpc/grpc-js";
import { Connection, ConnectionEvent, ConnectionEventType, MonitorConnectionService } from "../../../generated/nsm/connection.js";
import { eventPositionOf, withEncoding, withEventPositions } from "../../../lib/transport/grpc/event-positions.js";

const serialize = (value: unknown): Buffer =>
  (withEventPositions(MonitorConnectionService as unknown as ServiceDefinition).monitorConnections!.responseSerialize as (v: unknown) => Buffer)(value);

const event: ConnectionEvent = {
  type: ConnectionEventType.UPDATE,
  connections: { c1: Connection.fromPartial({ id: "c1", networkService: "svc" }) },
};

test("an event with a known encoding is sent as those bytes plus its position; a copy is encoded afresh", t => {
  const stored = ConnectionEvent.encode(event).finish();
  // Bytes that decode to something else than the object: proof that the stored ones are what is sent.
  const marker = ConnectionEvent.encode({ ...event, type: ConnectionEventType.DELETE }).finish();
  const marked = withEncoding({ ...ConnectionEvent.decode(stored), pnsmgrPosition: "5-1" }, marker);
  const sent = serialize(marked);
  t.is(ConnectionEvent.decode(sent).type, ConnectionEventType.DELETE, "the known bytes were sent");
  t.is(eventPositionOf(sent), "5-1");
  t.deepEqual(sent.subarray(0, marker.length), Buffer.from(marker));

  const copy = serialize({ ...marked });
  t.is(ConnectionEvent.decode(copy).type, ConnectionEventType.UPDATE, "a copy is encoded from the object");
  t.is(eventPositionOf(copy), "5-1");
  t.is(ConnectionEvent.decode(copy).connections["c1"]?.networkService, "svc");
});
