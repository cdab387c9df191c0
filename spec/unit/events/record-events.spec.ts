/**
 * Recording monitor events: appended after delivery, in order, as proto3 JSON with path tokens
 * redacted; a failing or slow store never throws into the relay, is counted and warned about
 * (rate-limited), and its return is logged.
 */
import test from "ava";
import { createEventRecorder, eventInput, REDACTED } from "../../../lib/planes/record-events.js";
import { type EventInput, type EventLog } from "../../../lib/state/event-log.js";
import { createMemoryEventLog } from "../../../lib/state/memory/event-log.js";
import type { Logger } from "../../../lib/log.js";
import { type Connection, type ConnectionEvent, ConnectionEventType, State } from "../../../generated/nsm/connection.js";

const conn = (id: string, state = State.UP): Connection => ({
  id,
  networkService: "icmp-responder@domain-2",
  mechanism: undefined,
  context: undefined,
  labels: {},
  path: {
    index: 0,
    pathSegments: [
      { name: "nsmgr-1", id: "s0", token: "secret-jwt-0", expires: undefined, metrics: {} },
      { name: "nsmgr-2@10.0.0.2:5001", id: "s1", token: "", expires: undefined, metrics: {} },
    ],
  },
  networkServiceEndpointName: "",
  payload: "",
  state,
});
const update = (...conns: Connection[]): ConnectionEvent => ({ type: ConnectionEventType.UPDATE, connections: Object.fromEntries(conns.map(c => [c.id, c])) });

function recordingLogger() {
  const lines: string[] = [];
  const at = (level: string) => (msg: string, fields: Record<string, unknown> = {}) => lines.push(`${level} ${msg} ${JSON.stringify(fields)}`);
  const log: Logger = { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
  return { log, lines };
}

test("events are appended after delivery, in order, with ids, peer, type name and the event as JSON", async t => {
  const events = createMemoryEventLog();
  let now = 1000;
  const recorder = createEventRecorder(events, recordingLogger().log, { now: () => now });
  recorder.record(update(conn("a")), "10.0.0.2:5001");
  now = 2000;
  recorder.record({ type: ConnectionEventType.DELETE, connections: { a: conn("a", State.DOWN) } }, "10.0.0.2:5001");
  recorder.record({ type: ConnectionEventType.INITIAL_STATE_TRANSFER, connections: {} }, "10.0.0.3:5001");
  t.deepEqual(await events.read(), [], "nothing is written inside the caller's delivery");
  await recorder.flush();
  const entries = await events.read();
  t.deepEqual(entries.map(e => [e.type, e.peer, e.connectionIds, e.at]), [
    ["UPDATE", "10.0.0.2:5001", ["a"], 1000],
    ["DELETE", "10.0.0.2:5001", ["a"], 2000],
    ["INITIAL_STATE_TRANSFER", "10.0.0.3:5001", [], 2000],
  ]);
  const payload = entries[1]!.payload as { type: string; connections: Record<string, { state?: string; networkService: string }> };
  t.is(payload.type, "DELETE");
  t.is(payload.connections.a?.state, "DOWN");
  t.is(payload.connections.a?.networkService, "icmp-responder@domain-2");
});

test("path tokens are redacted, the event given is not changed", t => {
  const event = update(conn("a"), conn("b"));
  const input = eventInput(event, "p", 1);
  const json = JSON.stringify(input.payload);
  t.false(json.includes("secret-jwt-0"));
  t.true(json.includes(REDACTED));
  t.deepEqual(input.connectionIds, ["a", "b"]);
  t.is(event.connections.a?.path?.pathSegments[0]?.token, "secret-jwt-0");
});

test("a failing store: nothing thrown, relaying goes on; one warning per outage (then counts), and its end is logged", async t => {
  let down = true;
  const appended: EventInput[] = [];
  const store: EventLog = {
    last: async () => undefined,
    trimmedThrough: async () => "0-0",
    async append(event) {
      if (down) throw new Error("state store (redis 127.0.0.1:1): not connected");
      appended.push(event);
      return `${appended.length}-0`;
    },
    read: async () => [],
    follow: () => {
      throw new Error("unused");
    },
  };
  let now = 0;
  const { log, lines } = recordingLogger();
  const recorder = createEventRecorder(store, log, { now: () => now, warnEveryMs: 10_000 });
  for (let i = 0; i < 5; i++) t.notThrows(() => recorder.record(update(conn(`c${i}`)), "p"));
  await recorder.flush();
  t.is(lines.length, 1, lines.join("\n"));
  t.regex(lines[0]!, /^warn monitor event log: an event could not be recorded; relaying goes on .*"lost":1.*not connected/);
  now = 10_000;
  recorder.record(update(conn("c5")), "p");
  await recorder.flush();
  t.is(lines.length, 2);
  t.regex(lines[1]!, /^warn .*"lost":6,"since":5/);
  down = false;
  recorder.record(update(conn("c6")), "p");
  await recorder.flush();
  t.regex(lines[2]!, /^info monitor event log: recording again \{"lost":6\}/);
  t.deepEqual(appended.map(e => e.connectionIds[0]), ["c6"]);
});

test("a store slower than the events: past maxQueued, new events are dropped and counted", async t => {
  let release!: () => void;
  const gate = new Promise<void>(resolve => (release = resolve));
  const appended: string[] = [];
  const store: EventLog = {
    last: async () => undefined,
    trimmedThrough: async () => "0-0",
    async append(event) {
      await gate;
      appended.push(event.connectionIds[0] ?? "");
      return "1-0";
    },
    read: async () => [],
    follow: () => {
      throw new Error("unused");
    },
  };
  const { log, lines } = recordingLogger();
  const recorder = createEventRecorder(store, log, { maxQueued: 3 });
  for (let i = 0; i < 3; i++) recorder.record(update(conn(`c${i}`)), "p");
  await new Promise(resolve => setImmediate(resolve)); // the worker takes c0; c1, c2 wait
  for (let i = 3; i < 6; i++) recorder.record(update(conn(`c${i}`)), "p");
  release();
  await recorder.flush();
  t.deepEqual(appended, ["c0", "c1", "c2", "c3"], "c0 in flight, three waiting; c4 and c5 dropped");
  t.regex(lines[0] ?? "", /more than 3 events waiting/);
});

test("close drops what is still queued and ignores later events", async t => {
  const events = createMemoryEventLog();
  const recorder = createEventRecorder(events, recordingLogger().log);
  recorder.record(update(conn("a")), "p");
  recorder.close();
  recorder.record(update(conn("b")), "p");
  await recorder.flush();
  t.deepEqual(await events.read(), []);
});
