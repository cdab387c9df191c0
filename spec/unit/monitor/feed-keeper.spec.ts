/**
 * The feed keeper on the in-memory store, with a Subject as each feed's upstream: who runs a feed,
 * what reaches the event log, and how a feed ends (lease lost, upstream lost, last client gone,
 * store refusing, a spec nobody can open).
 */
import test from "ava";
import { Subject } from "rxjs";
import { Connection, type ConnectionEvent, ConnectionEventType } from "../../../generated/nsm/connection.js";
import { silentLogger } from "../../../lib/log.js";
import { createMemoryStateStore } from "../../../lib/state/state.js";
import { feedLease } from "../../../lib/state/feed-store.js";
import { type FeedSource, SNAPSHOT_EVERY_MIN, UPSTREAM_LOST, createFeedKeeper, decode } from "../../../lib/planes/monitor/feed-keeper.js";

const conn = (id: string, n: number) => Connection.fromPartial({ id, labels: { n: String(n) } });
const update = (id: string, n: number): ConnectionEvent => ({ type: ConnectionEventType.UPDATE, connections: { [id]: conn(id, n) } });
const initial = (...conns: Connection[]): ConnectionEvent => ({ type: ConnectionEventType.INITIAL_STATE_TRANSFER, connections: Object.fromEntries(conns.map(c => [c.id, c])) });

function setup(options: { lingerMs?: number; replicaId?: string; store?: ReturnType<typeof createMemoryStateStore> } = {}) {
  const store = options.store ?? createMemoryStateStore();
  const upstreams: { spec: unknown; events: Subject<ConnectionEvent> }[] = [];
  const source: FeedSource = spec => {
    const entry = { spec, events: new Subject<ConnectionEvent>() };
    upstreams.push(entry);
    return { peer: "10.0.0.2:5001", events: entry.events };
  };
  const keeper = createFeedKeeper({
    feeds: store.feeds,
    replicas: store.replicas,
    replicaId: options.replicaId ?? "replica-a",
    sources: { test: source },
    leaseMs: 5_000,
    lingerMs: options.lingerMs ?? 0,
    log: silentLogger,
    tickMs: 3_600_000,
  });
  return { store, keeper, upstreams };
}

const settle = () => new Promise(resolve => setTimeout(resolve, 10));
const feedEntries = async (store: ReturnType<typeof createMemoryStateStore>, feed: string) => store.events.read({ feed });

test("the first client's replica runs the feed; each event is logged once with the feed's key and the state as snapshot", async t => {
  const { store, keeper, upstreams } = setup();
  await keeper.attach("f1", { kind: "test", n: 1 });
  await keeper.attach("f1", { kind: "test", n: 1 });
  t.is(upstreams.length, 1, "one upstream for two clients");
  t.deepEqual(upstreams[0]?.spec, { kind: "test", n: 1 }, "opened from the registered spec");
  t.deepEqual(keeper.running(), ["f1"]);
  t.is(await store.replicas.holder(feedLease("f1")), "replica-a");

  upstreams[0]!.events.next(initial(conn("c1", 0)));
  upstreams[0]!.events.next(update("c1", 1));
  upstreams[0]!.events.next(update("c2", 2));
  await settle();
  const entries = await feedEntries(store, "f1");
  t.deepEqual(entries.map(e => e.type), ["INITIAL_STATE_TRANSFER", "UPDATE", "UPDATE"]);
  t.true(entries.every(e => e.feed === "f1" && e.peer === "10.0.0.2:5001"));
  t.deepEqual(decode(entries[2]!.wire!).connections.c2?.labels, { n: "2" }, "the wire form is the event itself");
  const snapshot = await store.feeds.snapshot("f1");
  t.is(snapshot?.position, entries[0]?.position, "a snapshot with the feed's first event");
  t.deepEqual(Object.keys(decode(snapshot!.state).connections), ["c1"]);
  await keeper.close();
});

test("snapshots are written again every SNAPSHOT_EVERY_MIN entries (more for a large state), each true of its position", async t => {
  const { store, keeper, upstreams } = setup();
  await keeper.attach("f1", { kind: "test" });
  upstreams[0]!.events.next(initial());
  for (let n = 1; n <= SNAPSHOT_EVERY_MIN + 1; n++) upstreams[0]!.events.next(update(`c${n % 3}`, n));
  await settle();
  const entries = await feedEntries(store, "f1");
  const snapshot = await store.feeds.snapshot("f1");
  t.is(snapshot?.position, entries[SNAPSHOT_EVERY_MIN]?.position, "rewritten 64 entries after the first one, not at every one");
  const state = decode(snapshot!.state);
  t.is(state.type, ConnectionEventType.INITIAL_STATE_TRANSFER);
  t.deepEqual(Object.keys(state.connections).sort(), ["c0", "c1", "c2"]);
  const lastForC2 = Math.max(...Array.from({ length: SNAPSHOT_EVERY_MIN }, (_, i) => i + 1).filter(n => n % 3 === 2));
  t.is(state.connections.c2?.labels.n, String(lastForC2), "the state after that entry");
  await keeper.close();
});

test("a peer that skips its initial state: the log starts the feed with an empty one", async t => {
  const { store, keeper, upstreams } = setup();
  await keeper.attach("f1", { kind: "test" });
  upstreams[0]!.events.next(update("c1", 1));
  await settle();
  const entries = await feedEntries(store, "f1");
  t.deepEqual(entries.map(e => e.type), ["INITIAL_STATE_TRANSFER", "UPDATE"]);
  t.deepEqual(decode(entries[0]!.wire!).connections, {});
  await keeper.close();
});

test("upstream breaks: UPSTREAM_LOST is logged with the reason, the feed is forgotten and its lease given up", async t => {
  const { store, keeper, upstreams } = setup({ lingerMs: 30_000 });
  await keeper.attach("f1", { kind: "test" });
  upstreams[0]!.events.next(initial());
  upstreams[0]!.events.error(new Error("connection reset"));
  await settle();
  const entries = await feedEntries(store, "f1");
  t.is(entries.at(-1)?.type, UPSTREAM_LOST);
  t.regex(String((entries.at(-1)?.payload as { reason: string }).reason), /monitor stream 10\.0\.0\.2:5001 broke: connection reset/);
  t.deepEqual(await store.feeds.list(), []);
  t.is(await store.replicas.holder(feedLease("f1")), undefined);
  t.deepEqual(keeper.running(), []);
  await keeper.close();
});

test("no linger: the feed ends with its last client", async t => {
  const { store, keeper, upstreams } = setup({ lingerMs: 0 });
  await keeper.attach("f1", { kind: "test" });
  await keeper.attach("f1", { kind: "test" });
  keeper.detach("f1");
  t.true(upstreams[0]!.events.observed, "still running with one client left");
  t.deepEqual(keeper.running(), ["f1"]);
  keeper.detach("f1");
  await settle();
  t.false(upstreams[0]!.events.observed, "upstream unsubscribed");
  t.deepEqual(keeper.running(), []);
  t.deepEqual(await store.feeds.list(), []);
  t.is(await store.replicas.holder(feedLease("f1")), undefined);
  await keeper.close();
});

test("with linger, a feed without clients keeps running (and recording) until it has been idle that long", async t => {
  let now = 1_000_000;
  const store = createMemoryStateStore({ now: () => now });
  const { keeper, upstreams } = setup({ lingerMs: 30_000, store });
  await keeper.attach("f1", { kind: "test" });
  keeper.detach("f1");
  const idleFor = async (ms: number) => {
    for (let left = ms; left > 0; left -= 2_000) {
      now += 2_000; // ticks renew the 5 s lease
      await keeper.tick();
    }
  };
  await idleFor(10_000);
  t.deepEqual(keeper.running(), ["f1"], "10 s idle: still running");
  t.is(upstreams.length, 1, "the same upstream all along");
  upstreams[0]!.events.next(update("c1", 1));
  await settle();
  t.is((await feedEntries(store, "f1")).length, 2, "recorded with no client attached");
  await idleFor(22_000);
  t.deepEqual(keeper.running(), [], "32 s idle: ended");
  t.false(upstreams[0]!.events.observed);
  t.deepEqual(await store.feeds.list(), []);
  await keeper.close();
});

test("a feed whose holder is gone is taken over at the next tick; the old holder stops once its lease has moved", async t => {
  let now = 1_000_000;
  const store = createMemoryStateStore({ now: () => now });
  const a = setup({ store, replicaId: "replica-a", lingerMs: 30_000 });
  const b = setup({ store, replicaId: "replica-b", lingerMs: 30_000 });
  await a.keeper.attach("f1", { kind: "test" });
  await b.keeper.tick();
  t.deepEqual(b.keeper.running(), [], "held by A: B leaves it");

  // A stops renewing (frozen); its lease expires and B takes the feed over (idle 6 s < linger).
  now += 6_000;
  await b.keeper.tick();
  t.deepEqual(b.keeper.running(), ["f1"]);
  t.is(b.upstreams.length, 1);
  t.is(await store.replicas.holder(feedLease("f1")), "replica-b");

  // A wakes up and gets an event: its fenced append is refused and it drops the upstream.
  a.upstreams[0]!.events.next(update("c1", 1));
  b.upstreams[0]!.events.next(initial(conn("c1", 1)));
  await settle();
  t.deepEqual(a.keeper.running(), []);
  t.false(a.upstreams[0]!.events.observed, "A's upstream is cancelled");
  const entries = await feedEntries(store, "f1");
  t.deepEqual(entries.map(e => e.type), ["INITIAL_STATE_TRANSFER"], "only B's event is in the log");
  await a.keeper.close();
  await b.keeper.close();
});

test("close gives the leases up at once for another replica", async t => {
  const store = createMemoryStateStore();
  const a = setup({ store, replicaId: "replica-a", lingerMs: 30_000 });
  const b = setup({ store, replicaId: "replica-b", lingerMs: 30_000 });
  await a.keeper.attach("f1", { kind: "test" });
  await a.keeper.close();
  t.false(a.upstreams[0]!.events.observed);
  await b.keeper.tick();
  t.deepEqual(b.keeper.running(), ["f1"]);
  await b.keeper.close();
});

test("a spec no source can open ends the feed with UPSTREAM_LOST", async t => {
  const { store, keeper } = setup({ lingerMs: 30_000 });
  await keeper.attach("f1", { kind: "nobody" });
  await settle();
  const entries = await feedEntries(store, "f1");
  t.is(entries.at(-1)?.type, UPSTREAM_LOST);
  t.regex(String((entries.at(-1)?.payload as { reason: string }).reason), /no source for feed kind "nobody"/);
  t.deepEqual(keeper.running(), []);
  await keeper.close();
});
