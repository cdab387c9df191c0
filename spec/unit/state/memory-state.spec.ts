/**
 * The in-memory store on a test clock: positions stay ordered when the clock stalls or steps back,
 * age trimming and expiries follow the clock exactly, and position helpers parse and compare.
 */
import test from "ava";
import fc from "fast-check";
import { Code, ProxyError } from "../../../lib/pipeline/errors.js";
import { comparePositions, parsePosition, positionTime } from "../../../lib/state/event-log.js";
import { createMemoryStateStore } from "../../../lib/state/state.js";

function clock(start = 1_000_000) {
  let now = start;
  return { now: () => now, set: (t: number) => (now = t), advance: (ms: number) => (now += ms) };
}

const event = (n: number) => ({ connectionIds: [`c${n}`], peer: "p", type: "UPDATE", payload: { n }, at: n });

test("positions are <append ms>-<seq>; the same ms counts up, a clock stepping back never reorders", async t => {
  const c = clock();
  const { events } = createMemoryStateStore({ now: c.now });
  const p = [await events.append(event(0)), await events.append(event(1))];
  c.advance(5);
  p.push(await events.append(event(2)));
  c.set(500); // NTP step back
  p.push(await events.append(event(3)));
  t.deepEqual(p, ["1000000-0", "1000000-1", "1000005-0", "1000005-1"]);
  t.is(positionTime(p[2]!), 1_000_005);
});

test("reading and following after any position (in the log, between entries, before or past it) yields exactly the later entries", async t => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 0, maxLength: 40 }),
      fc.array(fc.tuple(fc.integer({ min: 999_998, max: 1_000_130 }), fc.integer({ min: 0, max: 5 })), { maxLength: 8 }),
      async (steps, probes) => {
        const c = clock();
        const { events } = createMemoryStateStore({ now: c.now, events: { maxLen: 25 } });
        for (const [i, step] of steps.entries()) {
          c.advance(step);
          await events.append(event(i));
        }
        const all = await events.read({ limit: 1000 });
        for (const after of [...all.map(e => e.position), ...probes.map(([ms, seq]) => `${ms}-${seq}`)]) {
          const expected = all.filter(e => comparePositions(e.position, after) > 0).map(e => e.position);
          t.deepEqual((await events.read({ after, limit: 1000 })).map(e => e.position), expected, `read after ${after}`);
          const followed: string[] = [];
          events.follow({ after }).subscribe(e => followed.push(e.position)).unsubscribe();
          t.deepEqual(followed, expected, `follow after ${after}`);
        }
      },
    ),
    { numRuns: 60 },
  );
});

test("age trimming follows the log's clock exactly", async t => {
  const c = clock();
  const { events } = createMemoryStateStore({ now: c.now, events: { maxAgeMs: 1000 } });
  await events.append(event(0));
  c.advance(600);
  await events.append(event(1));
  c.advance(401); // event 0 is now 1001 ms old, event 1 401 ms
  await events.append(event(2));
  t.deepEqual((await events.read()).map(e => e.at), [1, 2]);
});

test("heartbeats and leases expire on the clock", async t => {
  const c = clock();
  const { replicas } = createMemoryStateStore({ now: c.now });
  await replicas.heartbeat("a", 100);
  t.true(await replicas.tryAcquire("k", "a", 100));
  c.advance(99);
  t.deepEqual(await replicas.alive(), ["a"]);
  t.false(await replicas.tryAcquire("k", "b", 100));
  c.advance(1);
  t.deepEqual(await replicas.alive(), []);
  t.true(await replicas.tryAcquire("k", "b", 100));
});

test("payloads are stored as JSON (later changes to the caller's object do not leak in)", async t => {
  const { events } = createMemoryStateStore();
  const payload = { list: [1] };
  await events.append({ ...event(0), payload });
  payload.list.push(2);
  const [entry] = await events.read();
  t.deepEqual(entry?.payload, { list: [1] });
});

test("a subscriber that appends while the backlog is replayed gets its append after the backlog", async t => {
  const { events } = createMemoryStateStore();
  const start = await events.append(event(0));
  await events.append(event(1));
  await events.append(event(2));
  const seen: number[] = [];
  const follow = events.follow({ after: start }).subscribe(entry => {
    seen.push(entry.at);
    if (seen.length === 1) void events.append(event(9));
  });
  t.deepEqual(seen, [1, 2, 9]);
  follow.unsubscribe();
  await events.append(event(10));
  t.deepEqual(seen, [1, 2, 9], "nothing after unsubscribe");
});

test("position helpers", t => {
  t.deepEqual(parsePosition("1700000000000-3"), { ms: 1_700_000_000_000, seq: 3 });
  t.true(comparePositions("5-10", "6-0") < 0);
  t.true(comparePositions("6-2", "6-10") < 0);
  t.is(comparePositions("6-2", "6-2"), 0);
  for (const bad of ["", "5", "5-", "-1", "a-b", "5-1-2"]) {
    const error = t.throws(() => parsePosition(bad), { instanceOf: ProxyError });
    t.is(error?.code, Code.INVALID_ARGUMENT);
  }
});
