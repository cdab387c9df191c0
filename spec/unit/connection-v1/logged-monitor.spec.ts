/**
 * The v1 monitor served from the event log (logged-monitor.ts), on the in-memory log: our own events
 * go to the log as entries of feed "v1"; a fresh subscriber's initial state holds the recorded
 * connections as the log last showed them, at a position, and the v1 entries after it that its
 * selector matches (only the matching part, with the entry's position) follow; other feeds' entries
 * and initial states are never sent; a resuming subscriber gets exactly the entries after its
 * position; a store that cannot be read ends the stream with UNAVAILABLE.
 */
import test from "ava";
import type { Subscription } from "rxjs";
import { Code, ProxyError } from "../../../lib/pipeline/errors.js";
import { createMemoryEventLog } from "../../../lib/state/memory/event-log.js";
import { silentLogger } from "../../../lib/log.js";
import { createEventRecorder } from "../../../lib/planes/record-events.js";
import { createLoggedMonitor } from "../../../lib/planes/connection/v1/logged-monitor.js";
import { encodeEvent } from "../../../lib/planes/monitor-log.js";
import { eventInput } from "../../../lib/planes/record-events.js";
import type { PositionedEvent } from "../../../lib/planes/monitor-log.js";
import { type Connection, type ConnectionEvent, ConnectionEventType, type MonitorScopeSelector, State } from "../../../generated/nsm/connection.js";
import { ctx, fwdConnection, seg } from "./_support.js";
import { waitFor } from "../../support/wait.js";

const conn = (id: string, caller: string, state = State.UP): Connection => ({ ...fwdConnection(), id, state, path: { index: 1, pathSegments: [seg(caller, `${caller}-id`), seg("proxy-1", id)] } });
const event = (type: ConnectionEventType, ...conns: Connection[]): ConnectionEvent => ({ type, connections: Object.fromEntries(conns.map(c => [c.id, c])) });
const selector = (caller: string): MonitorScopeSelector => ({ pathSegments: [seg(caller, `${caller}-id`)], networkServices: [] });

async function setup(recorded: (s: MonitorScopeSelector) => Promise<Connection[]> = async () => []) {
  const events = createMemoryEventLog();
  const recorder = createEventRecorder(events, silentLogger, { feed: "v1" });
  const monitor = createLoggedMonitor(events, recorder, recorded, silentLogger);
  await monitor.ready();
  const watch = (sel: MonitorScopeSelector, metadata: Record<string, string> = {}) => {
    const got: PositionedEvent[] = [];
    let ended: unknown;
    const subscription: Subscription = monitor.monitorConnections(sel, ctx(metadata)).subscribe({ next: e => got.push(e as PositionedEvent), error: e => (ended = e) });
    return { got, subscription, ended: () => ended };
  };
  /** An entry of another feed (a downstream feed of ours, or a seed feed), appended as the keeper would. */
  const appendFeed = (feed: string, e: ConnectionEvent) => events.append({ ...eventInput(e, "10.9.0.2:5004", Date.now()), feed, wire: encodeEvent(e) });
  return { events, recorder, monitor, watch, appendFeed };
}

test("our own events go to the log as feed v1 entries with the event as delivered; a local-only notice and an initial state do not", async t => {
  const { events, recorder, monitor } = await setup();
  monitor.send(event(ConnectionEventType.UPDATE, conn("a", "fwd-1")), "10.9.0.2:5004");
  monitor.send(event(ConnectionEventType.DELETE, conn("b", "fwd-1")), "", { record: false });
  monitor.send(event(ConnectionEventType.INITIAL_STATE_TRANSFER, conn("c", "fwd-1")));
  await recorder.flush();
  const entries = await events.read();
  t.deepEqual(entries.map(e => [e.feed, e.type, e.peer, e.connectionIds]), [["v1", "UPDATE", "10.9.0.2:5004", ["a"]]]);
  t.truthy(entries[0]!.wire);
  monitor.close();
});

test("a fresh subscriber: the recorded connections as the log last showed them, at a position; then the matching part of later v1 entries, each with its position", async t => {
  const { events, recorder, monitor, watch, appendFeed } = await setup(async sel => [conn("a", "fwd-1"), conn("x", "other")].filter(c => c.path!.pathSegments[0]!.name === sel.pathSegments[0]!.name));
  monitor.send(event(ConnectionEventType.UPDATE, conn("a", "fwd-1")));
  await recorder.flush();
  await appendFeed("v1|10.9.0.2:5004|proxy-1|a", event(ConnectionEventType.UPDATE, conn("a", "fwd-1", State.DOWN)));
  await waitFor(() => monitor.known("a")?.state === State.DOWN, 1000, "the log state to fold the DOWN");

  const fwd = watch(selector("fwd-1"));
  await waitFor(() => fwd.got.length === 1, 1000, "the initial state");
  const initial = fwd.got[0]!;
  t.is(initial.type, ConnectionEventType.INITIAL_STATE_TRANSFER);
  t.deepEqual(Object.keys(initial.connections), ["a"]);
  t.is(initial.connections.a?.state, State.DOWN, "as the log last showed it, not as recorded");
  t.is(initial.pnsmgrPosition, await events.last());

  monitor.send(event(ConnectionEventType.UPDATE, conn("a", "fwd-1"), conn("x", "other")));
  await recorder.flush();
  await appendFeed("seed|10.0.0.2:5001|[]", event(ConnectionEventType.UPDATE, conn("a", "fwd-1")));
  await appendFeed("v1|10.9.0.2:5004|proxy-1|a", event(ConnectionEventType.INITIAL_STATE_TRANSFER, conn("a", "fwd-1")));
  monitor.send(event(ConnectionEventType.DELETE, conn("a", "fwd-1")));
  await recorder.flush();
  await waitFor(() => fwd.got.length === 3, 1000, "two more events");
  const positions = (await events.read()).map(e => e.position);
  t.deepEqual(Object.keys(fwd.got[1]!.connections), ["a"], "only the matching part");
  t.is(fwd.got[1]!.pnsmgrPosition, positions[2], "with its entry's position");
  t.is(fwd.got[2]!.type, ConnectionEventType.DELETE);
  t.is(fwd.got[2]!.pnsmgrPosition, positions[5]);
  t.is(fwd.got.length, 3, "other feeds' entries and initial states are not sent");
  fwd.subscription.unsubscribe();
  monitor.close();
});

test("a resuming subscriber gets exactly the entries after its position, no initial state; a malformed one is INVALID_ARGUMENT", async t => {
  const { events, recorder, monitor, watch } = await setup();
  for (const id of ["a", "b", "c"]) monitor.send(event(ConnectionEventType.UPDATE, conn(id, "fwd-1")));
  await recorder.flush();
  const [first] = await events.read();
  const resumed = watch(selector("fwd-1"), { "pnsmgr-resume-after": first!.position });
  await waitFor(() => resumed.got.length === 2, 1000, "the two after it");
  t.deepEqual(resumed.got.map(e => Object.keys(e.connections)[0]), ["b", "c"]);
  t.false(resumed.got.some(e => e.type === ConnectionEventType.INITIAL_STATE_TRANSFER));
  const bad = watch(selector("fwd-1"), { "pnsmgr-resume-after": "soon" });
  await waitFor(() => bad.ended() !== undefined, 1000, "the refusal");
  t.is((bad.ended() as ProxyError).code, Code.INVALID_ARGUMENT);
  resumed.subscription.unsubscribe();
  monitor.close();
});

test("the recorded connections cannot be read: UNAVAILABLE; the monitor closing ends every stream with UNAVAILABLE", async t => {
  const failing = await setup(async () => {
    throw new ProxyError(Code.UNAVAILABLE, "state store: down");
  });
  const refused = failing.watch(selector("fwd-1"));
  await waitFor(() => refused.ended() !== undefined, 1000, "the error");
  t.is((refused.ended() as ProxyError).code, Code.UNAVAILABLE);
  t.regex((refused.ended() as ProxyError).message, /connections of the other replicas cannot be read/);
  failing.monitor.close();

  const { monitor, watch } = await setup();
  const open = watch(selector("fwd-1"));
  await waitFor(() => open.got.length === 1, 1000, "the initial state");
  t.is(monitor.subscriberCount(), 1);
  monitor.close();
  t.is((open.ended() as ProxyError).code, Code.UNAVAILABLE);
  t.is(monitor.subscriberCount(), 0);
});
