/**
 * The in-memory feed store on a test clock: idle times and remove-if-idle follow the clock exactly,
 * lease expiry fences appends on the clock, a feed's snapshot is in place before followers see its
 * entry, and trimmedThrough follows exact trimming.
 */
import test from "ava";
import { createMemoryEventLog } from "../../../lib/state/memory/event-log.js";
import { createMemoryFeedStore } from "../../../lib/state/memory/feeds.js";
import { feedLease } from "../../../lib/state/feed-store.js";
import { createMemoryReplicaRegistry } from "../../../lib/state/memory/replicas.js";
import { createMemoryStateStore } from "../../../lib/state/state.js";

function clock(start = 1_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

const event = (n: number) => ({ connectionIds: [`c${n}`], peer: "p", type: "UPDATE", payload: { n }, at: n });

test("idle times and remove-if-idle follow the store's clock exactly", async t => {
  const c = clock();
  const { feeds } = createMemoryStateStore({ now: c.now });
  await feeds.register("a", "spec-a");
  c.advance(100);
  await feeds.register("b", "spec-b");
  c.advance(50);
  t.deepEqual(await feeds.list(), [
    { key: "a", spec: "spec-a", idleMs: 150 },
    { key: "b", spec: "spec-b", idleMs: 50 },
  ]);
  await feeds.touch(["a"]);
  c.advance(10);
  t.deepEqual((await feeds.list()).map(f => f.idleMs), [10, 60]);
  t.false(await feeds.remove("b", 61));
  t.true(await feeds.remove("b", 60), "idle for exactly the bound");
  t.deepEqual((await feeds.list()).map(f => f.key), ["a"]);
});

test("a lease that expired on the clock fences appends", async t => {
  const c = clock();
  const { feeds, replicas } = createMemoryStateStore({ now: c.now });
  t.true(await replicas.tryAcquire(feedLease("f"), "A", 100));
  t.is(await feeds.append("f", "A", event(1), "s1"), "1000000-0");
  c.advance(100);
  t.is(await feeds.append("f", "A", event(2), "s2"), undefined);
  t.deepEqual(await feeds.snapshot("f"), { position: "1000000-0", state: "s1" });
});

test("the snapshot is in place before a follower sees the feed's entry", async t => {
  const { feeds, replicas, events } = createMemoryStateStore();
  t.true(await replicas.tryAcquire(feedLease("f"), "A", 10_000));
  const seen: unknown[] = [];
  const follow = events.follow({ after: "0-0", feed: "f" }).subscribe(entry => {
    // Synchronously, from inside the append: a fenced append that lands here must not be overwritten.
    void feeds.snapshot("f").then(snapshot => seen.push([entry.position, snapshot?.position]));
  });
  const p1 = await feeds.append("f", "A", event(1), "s1");
  await new Promise(resolve => setImmediate(resolve));
  follow.unsubscribe();
  t.deepEqual(seen, [[p1, p1]]);
});

test("a follower that appends to the feed from inside an append leaves the newest snapshot in place", async t => {
  const { feeds, replicas, events } = createMemoryStateStore();
  t.true(await replicas.tryAcquire(feedLease("f"), "A", 10_000));
  let nested: Promise<string | undefined> | undefined;
  let once = false;
  const follow = events.follow({ after: "0-0", feed: "f" }).subscribe(() => {
    if (once) return;
    once = true;
    nested = feeds.append("f", "A", event(2), "s2");
  });
  await feeds.append("f", "A", event(1), "s1");
  const p2 = await nested;
  follow.unsubscribe();
  t.deepEqual(await feeds.snapshot("f"), { position: p2!, state: "s2" });
});

test("trimmedThrough is the newest entry dropped by length or age", async t => {
  const c = clock();
  const events = createMemoryEventLog({ now: c.now, bounds: { maxLen: 2, maxAgeMs: 1000 } });
  t.is(await events.trimmedThrough(), "0-0");
  const p0 = await events.append(event(0));
  await events.append(event(1));
  t.is(await events.trimmedThrough(), "0-0");
  await events.append(event(2));
  t.is(await events.trimmedThrough(), p0);
  c.advance(1001);
  const p3 = await events.append(event(3));
  t.deepEqual((await events.read()).map(e => e.position), [p3]);
  t.is(await events.trimmedThrough(), "1000000-2");
  t.is(await events.last(), p3);
});

test("createMemoryFeedStore needs the memory log and registry", t => {
  const events = createMemoryEventLog();
  const replicas = createMemoryReplicaRegistry();
  t.notThrows(() => createMemoryFeedStore(events, replicas));
  t.throws(() => createMemoryFeedStore({ ...events }, replicas), { instanceOf: TypeError });
  t.throws(() => createMemoryFeedStore(events, { ...replicas }), { instanceOf: TypeError });
});
