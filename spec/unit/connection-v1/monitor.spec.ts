/** Monitor pieces: selector matching, the monitor server, and how downstream events are relayed. */
import test from "ava";
import { Subject, type Observable } from "rxjs";
import { Code, ProxyError } from "../../../lib/pipeline/errors.js";
import { createCallContext } from "../../../lib/pipeline/context.js";
import type { MethodDescriptor, Upstream } from "../../../lib/pipeline/upstream.js";
import { matchesSelector } from "../../../lib/planes/connection/v1/monitor-selector.js";
import { createMonitorServer } from "../../../lib/planes/connection/v1/monitor-server.js";
import { downstreamWatcher, relayEvent } from "../../../lib/planes/connection/v1/downstream-monitor.js";
import { type Connection, type ConnectionEvent, ConnectionEventType, type MonitorScopeSelector, State } from "../../../generated/nsm/connection.js";
import { fwdConnection, seg } from "./_support.js";

const EIGHT = ["nsc", "nsmgr-1", "fwd-1", "proxy-1", "proxy-2", "nsmgr-2", "fwd-2", "nse"].map(n => seg(n, `${n}-id`));
/** The connection at proxy-1 in its own frame (index 3, id = its segment id). */
const ours = (overrides: Partial<Connection> = {}): Connection => ({ ...fwdConnection(), id: "proxy-1-id", path: { index: 3, pathSegments: EIGHT }, ...overrides });
/** The same connection as proxy-2 reports it (index 4, its id). */
const theirs = (overrides: Partial<Connection> = {}): Connection => ({ ...fwdConnection(), networkService: "ns", id: "proxy-2-id", path: { index: 4, pathSegments: EIGHT }, ...overrides });
const selector = (segments: [string, string][], networkServices: string[] = []): MonitorScopeSelector => ({ pathSegments: segments.map(([name, id]) => seg(name, id)), networkServices });
const event = (type: ConnectionEventType, ...conns: Connection[]): ConnectionEvent => ({ type, connections: Object.fromEntries(conns.map(c => [c.id, c])) });

test("selector: contiguous segments, empty fields as wildcards, network services", t => {
  const conn = ours();
  t.true(matchesSelector(conn, selector([])));
  t.true(matchesSelector(conn, selector([["fwd-1", "fwd-1-id"]])));
  t.true(matchesSelector(conn, selector([["fwd-1", ""], ["proxy-1", "proxy-1-id"]])));
  t.true(matchesSelector(conn, selector([["", "nse-id"]])));
  t.false(matchesSelector(conn, selector([["fwd-1", "fwd-1-id"], ["proxy-2", ""]])), "not contiguous");
  t.false(matchesSelector(conn, selector([["fwd-1", "other-id"]])));
  t.false(matchesSelector(conn, selector([["nse", ""], ["after", ""]])), "runs past the end");
  t.true(matchesSelector(conn, selector([], ["ns@domain-2"])));
  t.false(matchesSelector(conn, selector([["fwd-1", ""]], ["other"])));
  t.false(matchesSelector({ ...conn, path: undefined }, selector([["fwd-1", ""]])));
});

test("monitor server: initial state at once (even empty), then matching UPDATE/DELETE; the full event object when all match", t => {
  const monitor = createMonitorServer();
  const ctx = createCallContext({ method: "m" });
  const fwdEvents: ConnectionEvent[] = [];
  const otherEvents: ConnectionEvent[] = [];
  const a = monitor.monitorConnections(selector([["fwd-1", "fwd-1-id"]]), ctx).subscribe(e => fwdEvents.push(e));
  const b = monitor.monitorConnections(selector([["someone", ""]]), ctx).subscribe({ next: e => otherEvents.push(e), error: () => undefined });
  t.deepEqual(fwdEvents, [{ type: ConnectionEventType.INITIAL_STATE_TRANSFER, connections: {} }]);

  const update = event(ConnectionEventType.UPDATE, ours());
  monitor.send(update);
  t.is(fwdEvents[1], update, "same object: encoded once for every subscriber");
  t.is(otherEvents.length, 1, "a subscriber it does not concern hears nothing");

  const late: ConnectionEvent[] = [];
  const c = monitor.monitorConnections(selector([["proxy-1", "proxy-1-id"]]), ctx).subscribe({ next: e => late.push(e), error: () => undefined });
  t.deepEqual(Object.keys(late[0]!.connections), ["proxy-1-id"], "a late subscriber starts from what exists");

  const stranger = { ...ours(), id: "x", path: { index: 0, pathSegments: [seg("someone", "s")] } };
  monitor.send(event(ConnectionEventType.UPDATE, ours({ state: State.DOWN }), stranger));
  t.deepEqual(Object.keys(fwdEvents[2]!.connections), ["proxy-1-id"], "only the matching part");
  t.deepEqual(Object.keys(otherEvents[1]!.connections), ["x"]);

  monitor.send(event(ConnectionEventType.DELETE, ours()));
  t.is(fwdEvents[3]?.type, ConnectionEventType.DELETE);
  t.deepEqual([...monitor.connections().keys()], ["x"]);
  monitor.send(event(ConnectionEventType.INITIAL_STATE_TRANSFER, ours()));
  t.is(fwdEvents.length, 4, "an initial state is never relayed as such");

  t.is(monitor.subscriberCount(), 3);
  a.unsubscribe();
  t.is(monitor.subscriberCount(), 2);
  let ended: unknown;
  monitor.monitorConnections(selector([]), ctx).subscribe({ error: e => (ended = e) });
  monitor.close();
  t.is((ended as ProxyError).code, Code.UNAVAILABLE);
  t.is(monitor.subscriberCount(), 0);
  b.unsubscribe();
  c.unsubscribe();
});

test("relayEvent: next hop's UPDATE shown in our frame, DELETE becomes DOWN, unchanged and foreign events dropped", t => {
  const mine = ours({ mechanism: { cls: "REMOTE", type: "VXLAN", parameters: { src_ip: "10.1.0.5" } } });
  const down = relayEvent(event(ConnectionEventType.UPDATE, theirs({ state: State.DOWN, labels: { other: "x" } })), mine);
  const shown = down?.event.connections["proxy-1-id"];
  t.is(down?.event.type, ConnectionEventType.UPDATE);
  t.is(shown?.state, State.DOWN);
  t.is(shown?.path?.index, 3, "our index");
  t.is(shown?.networkService, "ns@domain-2", "our names");
  t.deepEqual(shown?.labels, mine.labels, "our labels and mechanism, not theirs");
  t.is(shown?.mechanism?.parameters.src_ip, "10.1.0.5");

  t.is(relayEvent(event(ConnectionEventType.UPDATE, theirs()), mine), undefined, "nothing changed");
  t.is(relayEvent(event(ConnectionEventType.INITIAL_STATE_TRANSFER, theirs()), mine), undefined, "initial state agreeing with ours");
  t.is(relayEvent(event(ConnectionEventType.DELETE, theirs()), mine)?.event.connections["proxy-1-id"]?.state, State.DOWN);
  const foreign = theirs({ path: { index: 4, pathSegments: EIGHT.map((s, i) => (i === 3 ? { ...s, id: "other" } : s)) } });
  t.is(relayEvent(event(ConnectionEventType.UPDATE, { ...foreign, state: State.DOWN }), mine), undefined, "another connection through the same hops");
  t.is(relayEvent(event(ConnectionEventType.UPDATE, theirs({ state: State.DOWN, path: { index: 6, pathSegments: EIGHT } })), mine), undefined, "reported from too far down");
  t.is(relayEvent(event(ConnectionEventType.UPDATE, theirs({ state: State.DOWN, path: { index: 1, pathSegments: EIGHT.slice(0, 3) } })), mine), undefined, "path too short");
});

/** An Upstream whose monitor streams the test drives. */
function fakeUpstream() {
  const streams: { address: string; request: unknown; metadata: ReadonlyMap<string, string> | undefined; events: Subject<ConnectionEvent> }[] = [];
  const upstream: Upstream = {
    unary: () => {
      throw new Error("unused");
    },
    serverStream: <Req, Res>(address: string, _m: MethodDescriptor<Req, Res>, request: Req, c: ReturnType<typeof createCallContext>) => {
      const events = new Subject<ConnectionEvent>();
      streams.push({ address, request, metadata: c.get({ name: "outgoing-metadata" }), events });
      return events.asObservable() as unknown as Observable<Res>;
    },
    bidiStream: () => {
      throw new Error("unused");
    },
    close: () => undefined,
  };
  return { upstream, streams };
}

test("downstream monitor: selector = our segment, relays, one DOWN when the stream breaks, nothing after stop", t => {
  const { upstream, streams } = fakeUpstream();
  const emitted: ConnectionEvent[] = [];
  const watch = downstreamWatcher(upstream, e => emitted.push(e), () => new Map([["nsm-client-token", "tok"]]));
  const monitor = watch("10.9.0.2:5004", ours());
  const stream = streams[0]!;
  t.is(stream.address, "10.9.0.2:5004");
  t.deepEqual((stream.request as MonitorScopeSelector).pathSegments.map(s => [s.name, s.id]), [["proxy-1", "proxy-1-id"]]);
  t.truthy(monitor.alive());

  stream.events.next(event(ConnectionEventType.INITIAL_STATE_TRANSFER, theirs()));
  t.is(emitted.length, 0);
  stream.events.next(event(ConnectionEventType.UPDATE, theirs({ state: State.DOWN })));
  t.is(emitted[0]?.connections["proxy-1-id"]?.state, State.DOWN);
  stream.events.next(event(ConnectionEventType.UPDATE, theirs({ state: State.UP })));
  t.is(emitted[1]?.connections["proxy-1-id"]?.state, State.UP, "compared with the last relayed state");

  stream.events.error(new ProxyError(Code.UNAVAILABLE, "gone"));
  t.is(emitted.length, 3);
  t.is(emitted[2]?.type, ConnectionEventType.UPDATE);
  t.is(emitted[2]?.connections["proxy-1-id"]?.state, State.DOWN);
  t.false(monitor.alive());

  const second = watch("10.9.0.2:5004", ours());
  second.stop();
  streams[1]!.events.error(new Error("late"));
  t.is(emitted.length, 3, "a stopped monitor reports nothing");
  t.is(streams[1]!.events.observed, false, "and has unsubscribed");
});
