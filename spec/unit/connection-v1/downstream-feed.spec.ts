/**
 * Downstream monitors as leased feeds (downstream-feed.ts), against a scripted next hop: the feed's
 * key and spec, relaying in our frame, an initial state compared in full, one DOWN when the stream
 * is lost however often it fails, the stream opened again, a downstream DELETE dropped when our own
 * DELETE comes within the grace, and a feed whose connection is gone ending at once.
 */
import test from "ava";
import { Subject, type Observable, type Subscription } from "rxjs";
import type { MethodDescriptor, Upstream } from "../../../lib/pipeline/upstream.js";
import { DOWNSTREAM_FEED_KIND, downstreamFeed, downstreamFeedSource, isV1Feed } from "../../../lib/planes/connection/v1/downstream-feed.js";
import { type Connection, type ConnectionEvent, ConnectionEventType, type MonitorScopeSelector, State } from "../../../generated/nsm/connection.js";
import { fwdConnection, seg } from "./_support.js";
import { sleep, waitFor } from "../../support/wait.js";

const EIGHT = ["nsc", "nsmgr-1", "fwd-1", "proxy-1", "proxy-2", "nsmgr-2", "fwd-2", "nse"].map(n => seg(n, `${n}-id`));
const ours = (overrides: Partial<Connection> = {}): Connection => ({ ...fwdConnection(), id: "proxy-1-id", path: { index: 3, pathSegments: EIGHT }, ...overrides });
const theirs = (overrides: Partial<Connection> = {}): Connection => ({ ...fwdConnection(), id: "proxy-2-id", path: { index: 4, pathSegments: EIGHT }, ...overrides });
const event = (type: ConnectionEventType, conn: Connection): ConnectionEvent => ({ type, connections: { [conn.id]: conn } });
const context = (n: string) => ({ ipContext: undefined, dnsContext: undefined, ethernetContext: undefined, extraContext: { n }, MTU: 0 });

/** A next hop whose monitor streams the test drives; each open is recorded. */
function scriptedNextHop() {
  const streams: { address: string; selector: MonitorScopeSelector; events: Subject<ConnectionEvent> }[] = [];
  const upstream = {
    serverStream<Req, Res>(address: string, _m: MethodDescriptor<Req, Res>, message: Req): Observable<Res> {
      const events = new Subject<ConnectionEvent>();
      streams.push({ address, selector: message as MonitorScopeSelector, events });
      return events.asObservable() as unknown as Observable<Res>;
    },
  } as unknown as Upstream;
  return { upstream, streams };
}

function run(known: Map<string, Connection>, recorded: Connection | undefined, deleteGraceMs = 50) {
  const next = scriptedNextHop();
  const source = downstreamFeedSource({ upstream: next.upstream, metadata: () => new Map(), known: id => known.get(id), recorded: async () => recorded, deleteGraceMs });
  const { key, spec } = downstreamFeed("10.9.0.2:5004", ours());
  const feed = source(spec);
  const out: ConnectionEvent[] = [];
  let completed = false;
  const subscription: Subscription = feed.events.subscribe({ next: e => out.push(e), complete: () => (completed = true) });
  return { next, key, spec, feed, out, subscription, completed: () => completed };
}

test("key and spec: one feed per next hop and our segment; entries of v1 feeds are recognised", t => {
  const { key, spec } = downstreamFeed("10.9.0.2:5004", ours());
  t.is(key, "v1|10.9.0.2:5004|proxy-1|proxy-1-id");
  t.deepEqual(spec, { kind: DOWNSTREAM_FEED_KIND, nextHop: "10.9.0.2:5004", name: "proxy-1", id: "proxy-1-id" });
  t.true(isV1Feed(key));
  t.true(isV1Feed("v1"));
  t.false(isV1Feed("seed|10.0.0.2:5001|[]"));
  t.false(isV1Feed(undefined));
});

test("relays in our frame; an initial state is compared in full; the stream is asked with our segment", async t => {
  const known = new Map([["proxy-1-id", ours()]]);
  const { next, feed, out, subscription } = run(known, undefined);
  t.is(feed.peer, "10.9.0.2:5004");
  await waitFor(() => next.streams.length === 1, 1000, "the stream opened");
  t.deepEqual(next.streams[0]!.selector.pathSegments.map(s => [s.name, s.id]), [["proxy-1", "proxy-1-id"]]);
  next.streams[0]!.events.next(event(ConnectionEventType.INITIAL_STATE_TRANSFER, theirs({ context: context("1") })));
  next.streams[0]!.events.next(event(ConnectionEventType.UPDATE, theirs({ context: context("1") })));
  next.streams[0]!.events.next(event(ConnectionEventType.UPDATE, theirs({ context: context("1"), state: State.DOWN })));
  t.is(out.length, 2, "the unchanged UPDATE is dropped");
  t.is(out[0]!.type, ConnectionEventType.UPDATE, "an initial state that differs from ours becomes an UPDATE");
  t.deepEqual(Object.keys(out[0]!.connections), ["proxy-1-id"]);
  t.is(out[0]!.connections["proxy-1-id"]?.context?.extraContext.n, "1");
  t.is(out[0]!.connections["proxy-1-id"]?.path?.index, 3, "in our frame");
  t.is(out[1]!.connections["proxy-1-id"]?.state, State.DOWN);
  subscription.unsubscribe();
});

test("a lost stream: one DOWN however often it fails, and the stream is opened again; its initial state brings what changed", async t => {
  const { next, out, subscription } = run(new Map(), ours());
  await waitFor(() => next.streams.length === 1, 1000, "the stream opened (from the record)");
  next.streams[0]!.events.error(new Error("next hop gone"));
  t.is(out.length, 1);
  t.is(out[0]!.connections["proxy-1-id"]?.state, State.DOWN);
  await waitFor(() => next.streams.length === 2, 2000, "opened again");
  next.streams[1]!.events.complete();
  await waitFor(() => next.streams.length === 3, 2000, "opened again, later");
  t.is(out.length, 1, "no second DOWN");
  next.streams[2]!.events.next(event(ConnectionEventType.INITIAL_STATE_TRANSFER, theirs({ state: State.UP })));
  t.is(out.length, 2);
  t.is(out[1]!.connections["proxy-1-id"]?.state, State.UP, "back up");
  subscription.unsubscribe();
});

test("a downstream DELETE: dropped when our own DELETE comes within the grace (a Close through us), else relayed as DOWN", async t => {
  const known = new Map([["proxy-1-id", ours()]]);
  const { next, out, subscription } = run(known, undefined);
  await waitFor(() => next.streams.length === 1, 1000, "the stream opened");
  next.streams[0]!.events.next(event(ConnectionEventType.DELETE, theirs()));
  known.delete("proxy-1-id"); // our DELETE, folded from the log
  await sleep(100);
  t.is(out.length, 0, "closed through us: nothing relayed");

  known.set("proxy-1-id", ours());
  next.streams[0]!.events.next(event(ConnectionEventType.DELETE, theirs()));
  await sleep(100);
  t.is(out.length, 1);
  t.is(out[0]!.type, ConnectionEventType.UPDATE);
  t.is(out[0]!.connections["proxy-1-id"]?.state, State.DOWN, "gone below us: DOWN");
  subscription.unsubscribe();
});

test("a connection neither the log nor a record knows: the feed ends at once without opening a stream", async t => {
  const { next, out, completed } = run(new Map(), undefined);
  await waitFor(completed, 1000, "the feed to end");
  t.is(next.streams.length, 0);
  t.deepEqual(out, []);
});
