/**
 * One event-log query as `pnsmgr events` asks it (the admin service and the CLI's Redis source both
 * run it): paged replay with filters, time range and limit; follow from now, or after a replay with
 * no gap and no duplicate; bad combinations are INVALID_ARGUMENT; the admin service's wire mapping.
 */
import test from "ava";
import { firstValueFrom, lastValueFrom, toArray } from "rxjs";
import { Code, ProxyError } from "../../../lib/pipeline/errors.js";
import { createMemoryEventLog } from "../../../lib/state/memory/event-log.js";
import type { EventEntry } from "../../../lib/state/event-log.js";
import { positionBefore, queryEvents } from "../../../lib/admin/query-events.js";
import { entryMessage, eventsRequest } from "../../../lib/admin/events-service.js";
import { entryOf, eventQuery } from "../../../lib/cli/events.js";
import { waitFor } from "../../support/wait.js";

function setup() {
  let now = 1_000_000;
  const log = createMemoryEventLog({ now: () => now });
  const add = (n: number, conn = `c${n % 2}`, peer = n < 4 ? "peer-a" : "peer-b") => {
    now += 10;
    return log.append({ connectionIds: [conn], peer, type: "UPDATE", payload: { n }, at: now });
  };
  return { log, add, now: () => now };
}

const ns = (entries: EventEntry[]) => entries.map(e => (e.payload as { n: number }).n);
const all = (o: import("rxjs").Observable<EventEntry>) => lastValueFrom(o.pipe(toArray()));

test("replay: every page, in order; filters, time range and limit", async t => {
  const { log, add } = setup();
  for (let i = 0; i < 7; i++) await add(i);
  t.deepEqual(ns(await all(queryEvents(log, {}, { pageSize: 2 }))), [0, 1, 2, 3, 4, 5, 6]);
  t.deepEqual(ns(await all(queryEvents(log, { connectionId: "c1" }, { pageSize: 2 }))), [1, 3, 5]);
  t.deepEqual(ns(await all(queryEvents(log, { peer: "peer-b" }, { pageSize: 2 }))), [4, 5, 6]);
  t.deepEqual(ns(await all(queryEvents(log, { from: 1_000_030, to: 1_000_050 }, { pageSize: 2 }))), [2, 3, 4]);
  t.deepEqual(ns(await all(queryEvents(log, { limit: 3 }, { pageSize: 2 }))), [0, 1, 2]);
  t.deepEqual(ns(await all(queryEvents(log, { limit: 5, connectionId: "c0" }, { pageSize: 2 }))), [0, 2, 4, 6]);
  const third = (await log.read())[2]!.position;
  t.deepEqual(ns(await all(queryEvents(log, { after: third }, { pageSize: 2 }))), [3, 4, 5, 6]);
});

test("follow without a start: only what is appended from now on", async t => {
  const { log, add } = setup();
  await add(0);
  const seen: EventEntry[] = [];
  const subscription = queryEvents(log, { follow: true }).subscribe(e => seen.push(e));
  await new Promise(resolve => setImmediate(resolve));
  await add(1);
  await add(2);
  t.deepEqual(ns(seen), [1, 2]);
  subscription.unsubscribe();
  await add(3);
  t.deepEqual(ns(seen), [1, 2], "nothing after unsubscribing");
});

test("follow after a replay: the backlog, then live, without gap or duplicate (appends during the replay too)", async t => {
  const { log, add } = setup();
  for (let i = 0; i < 5; i++) await add(i);
  const seen: EventEntry[] = [];
  const subscription = queryEvents(log, { follow: true, after: (await log.read())[0]!.position }, { pageSize: 2 }).subscribe(e => seen.push(e));
  await add(5); // while the replay is between pages
  await waitFor(() => seen.length === 5, 5000, "the backlog and the entry appended during the replay");
  await add(6);
  t.deepEqual(ns(seen), [1, 2, 3, 4, 5, 6]);
  subscription.unsubscribe();
});

test("follow from a time: entries appended at or after it, then live", async t => {
  const { log, add } = setup();
  for (let i = 0; i < 4; i++) await add(i); // at 1_000_010 ... 1_000_040
  const seen: EventEntry[] = [];
  const subscription = queryEvents(log, { follow: true, from: 1_000_030, connectionId: "c1" }, { pageSize: 1 }).subscribe(e => seen.push(e));
  await waitFor(() => seen.length === 1, 5000, "the replayed entry");
  await add(5);
  await add(6);
  t.deepEqual(ns(seen), [3, 5]);
  subscription.unsubscribe();
  t.is(positionBefore(1_000_030), "1000029-999999999999999");
  t.is(positionBefore(0), undefined);
});

test("a limit ends a follow", async t => {
  const { log, add } = setup();
  await add(0);
  const done = all(queryEvents(log, { follow: true, after: "0-0", limit: 3 }));
  await add(1);
  await add(2);
  await add(3);
  t.deepEqual(ns(await done), [0, 1, 2]);
});

test("bad queries are INVALID_ARGUMENT", async t => {
  const { log } = setup();
  for (const request of [{ follow: true, to: 5 }, { after: "x" }, { limit: 0 }, { from: -1 }]) {
    const error = await t.throwsAsync(firstValueFrom(queryEvents(log, request)));
    t.true(error instanceof ProxyError && error.code === Code.INVALID_ARGUMENT, JSON.stringify(request));
  }
});

test("the admin service's wire query and entry, both ways", t => {
  const request = { connectionId: "c", peer: "p", from: 5, to: 9, after: "1-0", follow: false, limit: 3 };
  t.deepEqual(eventsRequest(eventQuery(request)), { connectionId: "c", peer: "p", from: 5, to: 9, after: "1-0", limit: 3 });
  t.deepEqual(eventsRequest(eventQuery({})), {});
  t.deepEqual(eventsRequest(eventQuery({ follow: true })), { follow: true });
  t.throws(() => eventsRequest({ ...eventQuery({}), fromMs: "-5" }), { instanceOf: ProxyError, message: /from_ms/ });
  const entry: EventEntry = { position: "7-1", connectionIds: ["a", "b"], peer: "p", type: "DELETE", payload: { x: [1] }, at: 42 };
  t.deepEqual(entryOf(entryMessage(entry)), entry);
});
