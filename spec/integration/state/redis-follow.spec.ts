/**
 * Redis-only: following the event log through the store's one shared tail (redis/event-follow.ts).
 * - Many followers share ONE extra Redis connection (the tail, client name "pnsmgr-follow"), and
 *   each gets every entry in order.
 * - Followers joining with `after` while appends run get exactly the entries after `after`, once,
 *   in order (backlog, then what the tail dispatched meanwhile, then live); a backlog of several
 *   XRANGE pages too.
 * - The last follower leaving stops the tail (its connection goes away); a new follower starts one.
 * - Redis killed: every follower errors with UNAVAILABLE; Redis back: a new follower works.
 * Each test has its own redis-server, so CLIENT LIST counts only its own store's connections.
 */
import test, { type ExecutionContext } from "ava";
import type { Observable, Subscription } from "rxjs";
import { Code, ProxyError } from "../../../lib/pipeline/errors.js";
import { type EventEntry, type EventInput, defaultEventLogBounds } from "../../../lib/state/event-log.js";
import { FOLLOW_CONNECTION_NAME } from "../../../lib/state/redis/event-follow.js";
import { createRedisStateStore } from "../../../lib/state/redis/redis-store.js";
import type { StateStore } from "../../../lib/state/state.js";
import { type RedisProcess, redisCommand, startRedis, stopAllRedis } from "../../support/redis.js";
import { sleep } from "../../support/wait.js";

test.after.always(async () => {
  await stopAllRedis();
});

function event(n: number, extra: Partial<EventInput> = {}): EventInput {
  return { connectionIds: [`conn-${n}`], peer: n % 3 === 0 ? "peer-b:5001" : "peer-a:5001", type: "UPDATE", payload: { n }, at: 1_700_000_000_000 + n, ...extra };
}

async function setUp(t: ExecutionContext): Promise<{ redis: RedisProcess; store: StateStore }> {
  t.timeout(40_000);
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const store = await createRedisStateStore({
    kind: "redis",
    url: redis.url,
    masterName: "mymaster",
    prefix: "pnsmgr-follow-test:",
    events: defaultEventLogBounds,
    waitReplicas: 0,
    waitTimeoutMs: 1000,
  });
  t.teardown(() => store.close());
  return { redis, store };
}

/** The connections of the server (CLIENT LIST) by client name. */
async function connectionsByName(redis: RedisProcess): Promise<Map<string, number>> {
  const list = await redisCommand(redis.port, "CLIENT", "LIST");
  if (typeof list !== "string") throw new Error(`CLIENT LIST: ${String(list)}`);
  const counts = new Map<string, number>();
  for (const line of list.split("\n")) {
    if (line.trim() === "" || / cmd=client\|list /.test(` ${line} `)) continue; // this very command's connection
    const name = / name=(\S*)/.exec(line)?.[1] ?? "";
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  return counts;
}

const followConnections = async (redis: RedisProcess) => (await connectionsByName(redis)).get(FOLLOW_CONNECTION_NAME) ?? 0;

async function waitUntil(check: () => Promise<boolean> | boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(20);
  }
}

interface Tracked {
  readonly entries: EventEntry[];
  error: unknown;
  completed: boolean;
  readonly subscription: Subscription;
}

function track(follow$: Observable<EventEntry>): Tracked {
  const tracked = { entries: [] as EventEntry[], error: undefined as unknown, completed: false } as Tracked;
  (tracked as { subscription: Subscription }).subscription = follow$.subscribe({
    next: entry => tracked.entries.push(entry),
    error: (error: unknown) => (tracked.error = error),
    complete: () => (tracked.completed = true),
  });
  return tracked;
}

const positions = (entries: readonly EventEntry[]) => entries.map(e => e.position);

test("50 concurrent followers share one extra Redis connection, and each gets every entry in order", async t => {
  const { redis, store } = await setUp(t);
  const start = await store.events.append(event(0));
  const before = await connectionsByName(redis);
  t.is(before.get(FOLLOW_CONNECTION_NAME) ?? 0, 0, "no follow connection before anyone follows");
  const total = (counts: Map<string, number>) => [...counts.values()].reduce((a, b) => a + b, 0);

  const followers = Array.from({ length: 50 }, () => track(store.events.follow({ after: start })));
  const byPeer = track(store.events.follow({ after: start, peer: "peer-b:5001" }));
  t.teardown(() => [...followers, byPeer].forEach(f => f.subscription.unsubscribe()));
  await waitUntil(async () => (await followConnections(redis)) === 1, 3000, "the tail connection");

  const appended: string[] = [];
  for (let n = 1; n <= 100; n++) appended.push(await store.events.append(event(n)));
  await waitUntil(() => followers.every(f => f.entries.length >= 100) && byPeer.entries.length >= 33, 8000, "every follower to receive 100 entries");
  await sleep(200); // nothing more arrives

  const log = await store.events.read({ after: start });
  t.deepEqual(positions(log), appended);
  for (const [i, f] of followers.entries()) {
    t.is(f.error, undefined, `follower ${i}`);
    t.deepEqual(f.entries, log, `follower ${i}: every entry, in order, once`);
  }
  t.deepEqual(byPeer.entries, log.filter(e => e.peer === "peer-b:5001"), "a filtered follower gets the matching entries");

  const during = await connectionsByName(redis);
  t.is(during.get(FOLLOW_CONNECTION_NAME), 1, "one follow connection for 51 followers");
  t.is(total(during), total(before) + 1, `connections before ${JSON.stringify([...before])}, while following ${JSON.stringify([...during])}`);
  t.log(`51 followers: ${total(before)} connection(s) before, ${total(during)} while following`);
});

test("followers joining with `after` while appends run get exactly the entries after it, once, in order", async t => {
  const { redis, store } = await setUp(t);
  const first = await store.events.append(event(0));
  const appended: string[] = [first];
  const joined: { after: string; at: number; peer?: string; follower: Tracked }[] = [];
  const join = (after: string, peer?: string) =>
    joined.push({ after, at: appended.length, ...(peer ? { peer } : {}), follower: track(store.events.follow({ after, ...(peer ? { peer } : {}) })) });
  // Without `after`: a contiguous suffix of the log, through its end.
  const live = track(store.events.follow());
  // Every 10 appends: one more follower without `after`, and one with `after` = the newest position
  // (the shared tail may still be behind it: what it dispatches up to there must be dropped).
  const latecomers: { newest: string; follower: Tracked }[] = [];
  const atEnd: { after: string; follower: Tracked }[] = [];
  t.teardown(() => [live, ...joined.map(j => j.follower), ...latecomers.map(l => l.follower), ...atEnd.map(a => a.follower)].forEach(f => f.subscription.unsubscribe()));

  // Three appenders at once (so the tail reads batches); followers join at different points, with
  // `after` well behind the end (a backlog), just behind it, at it, and at the very start.
  const joinAt = new Map<number, () => void>([
    [30, () => join(appended[5]!)],
    [90, () => join(appended[80]!)],
    [150, () => join(appended.at(-1)!)],
    [170, () => join(appended[0]!, "peer-b:5001")],
    [210, () => join(appended[20]!)],
    [270, () => join(appended[268]!)],
  ]);
  let n = 1;
  await Promise.all(
    Array.from({ length: 3 }, async () => {
      while (n <= 300) {
        const position = await store.events.append(event(n++));
        appended.push(position);
        joinAt.get(appended.length)?.();
        if (appended.length % 10 === 5) {
          latecomers.push({ newest: position, follower: track(store.events.follow()) });
          atEnd.push({ after: position, follower: track(store.events.follow({ after: position })) });
        }
      }
    }),
  );
  t.is(joined.length, 6);
  const last = await store.events.last();
  const everyone = [live, ...joined.map(j => j.follower), ...latecomers.map(l => l.follower), ...atEnd.map(a => a.follower)];
  await waitUntil(() => everyone.every(f => f.error !== undefined || f.entries.at(-1)?.position === last), 10_000, "every follower to reach the end");
  await sleep(300); // nothing more arrives

  for (const { after, at, peer, follower } of joined) {
    t.is(follower.error, undefined);
    const expected = await store.events.read({ after, limit: 10_000, ...(peer ? { peer } : {}) });
    t.deepEqual(positions(follower.entries), positions(expected), `joined after ${at} appends with after=${after}${peer ? ` peer=${peer}` : ""}`);
    t.deepEqual(follower.entries, expected);
  }
  const all = await store.events.read({ limit: 10_000 });
  t.is(all.length, 301);
  t.true(live.entries.length > 0);
  const from = all.findIndex(e => e.position === live.entries[0]!.position);
  t.deepEqual(live.entries, all.slice(from), "a follower without `after` gets a gapless suffix through the end");
  t.is(latecomers.length, 30);
  for (const { newest, follower } of latecomers) {
    t.is(follower.error, undefined);
    // It starts at the end of the log: nothing appended before follow() was called, then no gap.
    const index = all.findIndex(e => e.position === follower.entries[0]?.position);
    t.true(index > all.findIndex(e => e.position === newest), `a follower without \`after\` made after ${newest} starts after it`);
    t.deepEqual(follower.entries, all.slice(index), `a follower without \`after\` made after ${newest}: a gapless suffix through the end`);
  }
  for (const { after, follower } of atEnd) {
    t.is(follower.error, undefined);
    t.deepEqual(follower.entries, await store.events.read({ after, limit: 10_000 }), `a follower with after=${after}, the newest position when it joined`);
  }
  t.is(await followConnections(redis), 1);
});

test("a follower with a backlog of several XRANGE pages joins a running tail with no gap and no duplicate", async t => {
  const { store } = await setUp(t);
  const first = await store.events.append(event(0));
  const keeper = track(store.events.follow({ after: first }));
  t.teardown(() => keeper.subscription.unsubscribe());
  for (let i = 0; i < 12; i++) await Promise.all(Array.from({ length: 100 }, (_, k) => store.events.append(event(1 + i * 100 + k))));
  await waitUntil(() => keeper.entries.length === 1200, 8000, "the keeper to see 1200 entries");
  // The tail is at the end: the joiner's backlog is everything after `first` (1200 entries).
  const joiner = track(store.events.follow({ after: first }));
  t.teardown(() => joiner.subscription.unsubscribe());
  const more = Promise.all(Array.from({ length: 50 }, (_, k) => store.events.append(event(2000 + k))));
  await more;
  await waitUntil(() => joiner.entries.length >= 1250, 8000, "the joiner to see 1250 entries");
  await sleep(200);
  const expected = await store.events.read({ after: first, limit: 10_000 });
  t.is(expected.length, 1250);
  t.deepEqual(positions(joiner.entries), positions(expected));
  t.deepEqual(positions(keeper.entries), positions(expected));
});

test("the last follower leaving stops the tail connection; a new follower starts another; an unsubscribed follower gets nothing more", async t => {
  const { redis, store } = await setUp(t);
  const start = await store.events.append(event(0));
  const followers = [track(store.events.follow()), track(store.events.follow({ after: start })), track(store.events.follow({ peer: "peer-b:5001" }))];
  await waitUntil(async () => (await followConnections(redis)) === 1, 3000, "the tail connection");
  await sleep(100); // every follower caught up
  await store.events.append(event(1));
  await waitUntil(() => followers[1]!.entries.length === 1 && followers[0]!.entries.length === 1, 3000, "entry 1");

  followers[0]!.subscription.unsubscribe();
  followers[1]!.subscription.unsubscribe();
  await store.events.append(event(2));
  await sleep(300);
  t.is(followers[0]!.entries.length, 1, "an unsubscribed follower receives nothing more");
  t.is(followers[1]!.entries.length, 1, "an unsubscribed follower receives nothing more");
  t.is(await followConnections(redis), 1, "the tail runs while one follower remains");

  followers[2]!.subscription.unsubscribe();
  await waitUntil(async () => (await followConnections(redis)) === 0, 3000, "the tail connection to close");
  t.pass("the tail connection closed after the last follower left");

  const again = track(store.events.follow({ after: start }));
  t.teardown(() => again.subscription.unsubscribe());
  await waitUntil(async () => (await followConnections(redis)) === 1, 3000, "a new tail connection");
  const p3 = await store.events.append(event(3));
  await waitUntil(() => again.entries.at(-1)?.position === p3, 3000, "entry 3");
  t.deepEqual(payloads(again.entries), [1, 2, 3]);
  t.false(followers.some(f => f.completed || f.error !== undefined), "an unsubscribed follower is neither completed nor errored");
});

const payloads = (entries: readonly EventEntry[]) => entries.map(e => (e.payload as { n: number }).n);

test("Redis killed: every follower errors with UNAVAILABLE; Redis back: a new follower works", async t => {
  const { redis, store } = await setUp(t);
  const start = await store.events.append(event(0));
  const followers = Array.from({ length: 5 }, (_, i) => track(store.events.follow(i % 2 === 0 ? { after: start } : {})));
  t.teardown(() => followers.forEach(f => f.subscription.unsubscribe()));
  await waitUntil(async () => (await followConnections(redis)) === 1, 3000, "the tail connection");
  await sleep(100);
  await store.events.append(event(1));
  await waitUntil(() => followers.every(f => f.entries.length === 1), 3000, "entry 1 everywhere");

  await redis.kill("SIGKILL");
  const killedAt = Date.now();
  await waitUntil(() => followers.every(f => f.error !== undefined), 5000, "every follower to error");
  t.log(`every follower errored ${Date.now() - killedAt} ms after the kill`);
  for (const f of followers) {
    t.true(f.error instanceof ProxyError && f.error.code === Code.UNAVAILABLE, String(f.error));
    t.regex((f.error as Error).message, /^state store \(redis [^)]*\): follow events: /);
  }
  // While Redis is down, a new follower errors with UNAVAILABLE too.
  const down = track(store.events.follow());
  t.teardown(() => down.subscription.unsubscribe());
  await waitUntil(() => down.error !== undefined, 5000, "a follower made while Redis is down to error");
  t.true(down.error instanceof ProxyError && down.error.code === Code.UNAVAILABLE, String(down.error));

  await redis.restart(); // empty: no persistence
  // The main connection reconnects within a fraction of a second; until then a follower may fail.
  let resumed: Tracked | undefined;
  let position: string | undefined;
  await waitUntil(
    async () => {
      resumed?.subscription.unsubscribe();
      resumed = track(store.events.follow({ after: "0-0" }));
      await sleep(200);
      if (resumed.error !== undefined) return false;
      position = await store.events.append(event(2)).catch(() => undefined);
      return position !== undefined;
    },
    5000,
    "a follower after Redis is back",
  );
  t.teardown(() => resumed?.subscription.unsubscribe());
  await waitUntil(() => resumed!.entries.length >= 1 || resumed!.error !== undefined, 3000, "the new follower to receive entry 2");
  t.is(resumed!.error, undefined);
  t.deepEqual(payloads(resumed!.entries), [2]);
  t.is(resumed!.entries[0]?.position, position);
  t.is(await followConnections(redis), 1, "one follow connection after the outage");
});
