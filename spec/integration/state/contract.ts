/**
 * The state store contract: the same tests for every StateStore implementation (memory, Redis).
 * `stateContract(factory)` registers them in the calling spec file; every test makes its own store
 * (for Redis: its own key prefix), closes it in teardown, and has a deadline.
 */
import test, { type ExecutionContext } from "ava";
import { firstValueFrom, take, timeout, toArray, type Observable } from "rxjs";
import { Code, ProxyError } from "../../../lib/pipeline/errors.js";
import type { ConnectionRecord } from "../../../lib/state/connection-store.js";
import { type EventEntry, type EventInput, type EventLogBounds, comparePositions, positionTime } from "../../../lib/state/event-log.js";
import { type FeedInfo, feedLease } from "../../../lib/state/feed-store.js";
import type { StateStore } from "../../../lib/state/state.js";
import { STALE_V1_RECORD_MS, type V1ConnectionRecord } from "../../../lib/state/v1-connection-store.js";
import { sleep } from "../../support/wait.js";
import { Connection, type MonitorScopeSelector } from "../../../generated/nsm/connection.js";
import { matchesSelector } from "../../../lib/planes/connection/v1/monitor-selector.js";
import { recordsForSelector } from "../../../lib/planes/connection/v1/shared-connections.js";

export type StoreFactory = (options?: { events?: Partial<EventLogBounds> }) => Promise<StateStore>;

function record(id: string, extra: Partial<ConnectionRecord> = {}): ConnectionRecord {
  return { id, nextHop: "10.0.0.1:5001", networkService: "icmp@domain-b", remoteNsm: "nsmgr@10.0.0.1:5001", updatedAt: 1_700_000_000_000, ...extra };
}

function event(n: number, extra: Partial<EventInput> = {}): EventInput {
  return { connectionIds: [`conn-${n}`], peer: "peer-a:5001", type: "UPDATE", payload: { n, nested: { list: [1, "two", null] } }, at: 1_700_000_000_000 + n, ...extra };
}

/** Collects `count` entries from a follow (or fails after `ms`). */
function collect(follow$: Observable<EventEntry>, count: number, ms = 8000): Promise<EventEntry[]> {
  return firstValueFrom(follow$.pipe(take(count), toArray(), timeout(ms)));
}

const payloadN = (entries: readonly EventEntry[]) => entries.map(e => (e.payload as { n: number }).n);

const byKey = (feeds: readonly FeedInfo[]) => Object.fromEntries(feeds.map(feed => [feed.key, feed]));

export function stateContract(name: string, factory: StoreFactory): void {
  async function open(t: ExecutionContext, options?: { events?: Partial<EventLogBounds> }): Promise<StateStore> {
    t.timeout(20_000);
    const store = await factory(options);
    t.teardown(() => store.close());
    return store;
  }

  async function appendSpaced(store: StateStore, events: readonly EventInput[]): Promise<string[]> {
    const positions: string[] = [];
    for (const e of events) {
      positions.push(await store.events.append(e));
      await sleep(3); // distinct append milliseconds, for from/to
    }
    return positions;
  }

  // ---- connection records ----

  test(`${name}: connection records: put, get, overwrite, list, delete`, async t => {
    const store = await open(t);
    t.is(await store.connections.get("nope"), undefined);
    t.deepEqual(await store.connections.list(), []);
    const a = record("a", { remoteDstIP: "172.16.0.2/32", clientDstIP: "203.0.113.9/32" });
    const b = record("b");
    await store.connections.put(a);
    await store.connections.put(b);
    t.deepEqual(await store.connections.get("a"), a);
    t.deepEqual(await store.connections.get("b"), b);
    const a2 = { ...a, nextHop: "10.0.0.2:5001", updatedAt: a.updatedAt + 1 };
    await store.connections.put(a2);
    t.deepEqual(await store.connections.get("a"), a2);
    t.deepEqual((await store.connections.list()).sort((x, y) => x.id.localeCompare(y.id)), [a2, b]);
    await store.connections.delete("a");
    await store.connections.delete("never-there");
    t.is(await store.connections.get("a"), undefined);
    t.deepEqual(await store.connections.list(), [b]);
  });

  // ---- v1 connection records ----

  test(`${name}: v1 connection records: put, get, overwrite, delete; list gives the live ones and drops long-expired ones`, async t => {
    const store = await open(t);
    const now = Date.now();
    const v1 = (id: string, expires: number, extra: Partial<V1ConnectionRecord> = {}): V1ConnectionRecord => ({
      id,
      connection: { id, path: { index: 3, pathSegments: [{ name: "proxy-1", id }] }, labels: { a: "b" } },
      route: { nextHop: "127.0.0.1:5004", networkServiceEndpointName: "nse@domain-2", networkService: "ns@domain-2", via: "learned" },
      expires,
      stamp: `stamp-${id}`,
      updatedAt: now,
      ...extra,
    });
    t.is(await store.v1Connections.get("nope"), undefined);
    t.deepEqual(await store.v1Connections.list(now), []);
    const live = v1("live", now + 60_000);
    const expired = v1("expired", now - 1000);
    const stale = v1("stale", now - STALE_V1_RECORD_MS - 1000);
    for (const r of [live, expired, stale]) await store.v1Connections.put(r);
    t.deepEqual(await store.v1Connections.get("live"), live);
    t.deepEqual(await store.v1Connections.get("expired"), expired, "get gives expired records too");
    t.deepEqual(await store.v1Connections.list(now), [live]);
    t.is(await store.v1Connections.get("stale"), undefined, "list removed the long-expired record");
    t.deepEqual(await store.v1Connections.get("expired"), expired, "a recently expired record is kept");
    const refreshed = { ...live, stamp: "another", expires: now + 120_000 };
    await store.v1Connections.put(refreshed);
    t.deepEqual(await store.v1Connections.get("live"), refreshed);
    await store.v1Connections.delete("live");
    await store.v1Connections.delete("never-there");
    t.is(await store.v1Connections.get("live"), undefined);
    await t.throwsAsync(store.v1Connections.put({ ...live, id: "" }), { instanceOf: ProxyError });
  });

  test(`${name}: v1 connection records: found by a segment id, and for a selector, exactly as the full list filtered`, async t => {
    const store = await open(t);
    const now = Date.now();
    const v1 = (id: string, segments: [string, string][], expires = now + 60_000, networkService = "ns-a"): V1ConnectionRecord => ({
      id,
      connection: Connection.toJSON(Connection.fromPartial({ id, networkService, path: { index: 1, pathSegments: segments.map(([name, id]) => ({ name, id })) } })),
      route: { nextHop: "127.0.0.1:5004", networkServiceEndpointName: "nse", networkService, via: "learned" },
      expires,
      stamp: `stamp-${id}`,
      updatedAt: now,
    });
    const records = [
      v1("r1", [["client", "c1"], ["proxy", "r1"], ["nse", "n1"]]),
      v1("r2", [["client", "c2"], ["proxy", "r2"], ["fwd", "shared"]]),
      v1("r3", [["client", "c3"], ["proxy", "r3"], ["fwd", "shared"]], now + 60_000, "ns-b"),
      v1("expired", [["client", "c4"], ["proxy", "expired"]], now - 1000),
      v1("stale", [["client", "c5"], ["proxy", "stale"]], now - STALE_V1_RECORD_MS - 1000),
      v1("moved", [["client", "c6"], ["proxy", "moved"], ["nse", "old-next"]]),
      v1("gone", [["client", "c7"], ["proxy", "gone"]]),
    ];
    for (const r of records) await store.v1Connections.put(r);
    await store.v1Connections.put(v1("moved", [["client", "c6"], ["proxy", "moved"], ["nse", "new-next"]]));
    await store.v1Connections.delete("gone");

    const ids = (rs: readonly V1ConnectionRecord[]) => rs.map(r => r.id).sort();
    const bySegment = async (segment: string) => ids(await store.v1Connections.findBySegment(segment, now));
    t.deepEqual(await bySegment("shared"), ["r2", "r3"]);
    t.deepEqual(await bySegment("c1"), ["r1"]);
    t.deepEqual(await bySegment("new-next"), ["moved"]);
    t.deepEqual(await bySegment("old-next"), [], "a segment the record no longer has");
    t.deepEqual(await bySegment("gone"), [], "a deleted record");
    t.deepEqual(await bySegment("c4"), [], "an expired record");
    t.deepEqual(await bySegment("nowhere"), []);

    const all = await store.v1Connections.list(now);
    const filtered = (selector: MonitorScopeSelector, rs: readonly V1ConnectionRecord[]) => ids(rs.filter(r => matchesSelector(Connection.fromJSON(r.connection), selector)));
    const segment = (name: string, id: string) => ({ name, id, token: "", expires: undefined, metrics: {} });
    const selectors: MonitorScopeSelector[] = [
      { pathSegments: [], networkServices: [] },
      { pathSegments: [], networkServices: ["ns-b"] },
      { pathSegments: [segment("", "r1")], networkServices: [] },
      { pathSegments: [segment("proxy", "r2")], networkServices: [] },
      { pathSegments: [segment("client", "r2")], networkServices: [] },
      { pathSegments: [segment("", "shared")], networkServices: [] },
      { pathSegments: [segment("", "shared")], networkServices: ["ns-b"] },
      { pathSegments: [segment("", "c2"), segment("", "r2")], networkServices: [] },
      { pathSegments: [segment("", "r2"), segment("", "c2")], networkServices: [] },
      { pathSegments: [segment("proxy", ""), segment("", "n1")], networkServices: [] },
      { pathSegments: [segment("client", "")], networkServices: [] },
      { pathSegments: [segment("", "old-next")], networkServices: [] },
      { pathSegments: [segment("", "new-next")], networkServices: [] },
      { pathSegments: [segment("", "c4")], networkServices: [] },
      { pathSegments: [segment("", "gone")], networkServices: [] },
    ];
    for (const selector of selectors) {
      const looked = await recordsForSelector(store.v1Connections, selector, now);
      t.deepEqual(filtered(selector, looked), filtered(selector, all), JSON.stringify(selector));
    }
    t.deepEqual(filtered(selectors[5]!, all), ["r2", "r3"], "the comparison is not between empty sets");
  });

  // ---- routes ----

  test(`${name}: routes: set, get, overwrite, delete`, async t => {
    const store = await open(t);
    t.is(await store.routes.get("nse-1"), undefined);
    await store.routes.set("nse-1", "tcp://10.0.0.1:5001");
    await store.routes.set("nse-2", "tcp://10.0.0.2:5001");
    t.is(await store.routes.get("nse-1"), "tcp://10.0.0.1:5001");
    await store.routes.set("nse-1", "tcp://10.0.0.3:5001");
    t.is(await store.routes.get("nse-1"), "tcp://10.0.0.3:5001");
    await store.routes.delete("nse-1");
    t.is(await store.routes.get("nse-1"), undefined);
    t.is(await store.routes.get("nse-2"), "tcp://10.0.0.2:5001");
  });

  // ---- event log ----

  test(`${name}: events: append returns increasing "ms-seq" positions; read returns every field in order`, async t => {
    const store = await open(t);
    const before = Date.now();
    const positions: string[] = [];
    for (let n = 0; n < 5; n++) positions.push(await store.events.append(event(n, n === 4 ? { connectionIds: ["x", "y"], payload: "plain" } : {})));
    for (const p of positions) t.regex(p, /^\d+-\d+$/);
    for (let i = 1; i < positions.length; i++) t.true(comparePositions(positions[i - 1]!, positions[i]!) < 0, `${positions[i - 1]} < ${positions[i]}`);
    t.true(Math.abs(positionTime(positions[0]!) - before) < 5000, "position time is the append time");
    const entries = await store.events.read();
    t.deepEqual(entries.map(e => e.position), positions);
    t.deepEqual(entries[0], { position: positions[0]!, ...event(0), connectionIds: ["conn-0"] });
    t.deepEqual(entries[4], { position: positions[4]!, ...event(4), connectionIds: ["x", "y"], payload: "plain" });
  });

  test(`${name}: events: read filters by after, from/to, connection, peer and limit`, async t => {
    const store = await open(t);
    const p = await appendSpaced(store, [
      event(0),
      event(1, { peer: "peer-b:5001" }),
      event(2, { connectionIds: ["conn-0", "conn-2"] }),
      event(3),
      event(4, { peer: "peer-b:5001", connectionIds: ["conn-0"] }),
    ]);
    t.deepEqual(payloadN(await store.events.read({ after: p[1]! })), [2, 3, 4]);
    t.deepEqual(payloadN(await store.events.read({ after: p[4]! })), []);
    t.deepEqual(payloadN(await store.events.read({ from: positionTime(p[2]!) })), [2, 3, 4]);
    t.deepEqual(payloadN(await store.events.read({ to: positionTime(p[2]!) })), [0, 1, 2]);
    t.deepEqual(payloadN(await store.events.read({ from: positionTime(p[1]!), to: positionTime(p[3]!) })), [1, 2, 3]);
    t.deepEqual(payloadN(await store.events.read({ after: p[2]!, from: positionTime(p[1]!) })), [3, 4], "after wins when later");
    t.deepEqual(payloadN(await store.events.read({ after: p[0]!, from: positionTime(p[3]!) })), [3, 4], "from wins when later");
    t.deepEqual(payloadN(await store.events.read({ connectionId: "conn-0" })), [0, 2, 4]);
    t.deepEqual(payloadN(await store.events.read({ peer: "peer-b:5001" })), [1, 4]);
    t.deepEqual(payloadN(await store.events.read({ peer: "peer-b:5001", connectionId: "conn-0" })), [4]);
    t.deepEqual(payloadN(await store.events.read({ peer: "nobody" })), []);
    const page1 = await store.events.read({ limit: 2 });
    t.deepEqual(payloadN(page1), [0, 1]);
    t.deepEqual(payloadN(await store.events.read({ after: page1.at(-1)!.position, limit: 2 })), [2, 3]);
    t.deepEqual(payloadN(await store.events.read({ connectionId: "conn-0", limit: 2 })), [0, 2]);
    const unjsonable = await t.throwsAsync(store.events.append(event(9, { payload: { n: 10n } })), { instanceOf: ProxyError });
    t.is(unjsonable?.code, Code.INVALID_ARGUMENT);
    t.is((await store.events.read()).length, 5, "nothing appended");
    for (const bad of [{ after: "nope" }, { after: "12" }, { limit: 0 }, { from: -1 }]) {
      const error = await t.throwsAsync(store.events.read(bad), { instanceOf: ProxyError });
      t.is(error?.code, Code.INVALID_ARGUMENT, JSON.stringify(bad));
    }
  });

  test(`${name}: events: the log keeps at most maxLen entries (exact trim), the newest`, async t => {
    const store = await open(t, { events: { maxLen: 5, trim: "exact" } });
    for (let n = 0; n < 12; n++) await store.events.append(event(n));
    t.deepEqual(payloadN(await store.events.read()), [7, 8, 9, 10, 11]);
  });

  test(`${name}: events: entries older than maxAge are trimmed at the next append (exact trim)`, async t => {
    const store = await open(t, { events: { maxAgeMs: 300, trim: "exact" } });
    await store.events.append(event(0));
    await store.events.append(event(1));
    t.deepEqual(payloadN(await store.events.read()), [0, 1]);
    await sleep(450);
    await store.events.append(event(2));
    t.deepEqual(payloadN(await store.events.read()), [2]);
  });

  test(`${name}: events: approximate trimming bounds the log too, keeping the newest`, async t => {
    const store = await open(t, { events: { maxLen: 10 } });
    for (let n = 0; n < 350; n++) await store.events.append(event(n));
    const kept = payloadN(await store.events.read({ limit: 10_000 }));
    t.log(`kept ${kept.length} of 350 with maxLen 10 (approximate)`);
    t.true(kept.length >= 10 && kept.length <= 10 + 200, `kept ${kept.length}`);
    t.deepEqual(kept.slice(-10), [340, 341, 342, 343, 344, 345, 346, 347, 348, 349]);
    t.deepEqual(kept, Array.from({ length: kept.length }, (_, i) => 350 - kept.length + i), "contiguous tail");
  });

  test(`${name}: events: entries keep feed and wire (only when given); read and follow filter by feed`, async t => {
    const store = await open(t);
    const start = await store.events.append(event(0));
    const followA = collect(store.events.follow({ after: start, feed: "feed-a" }), 2);
    const followB = collect(store.events.follow({ after: start, feed: "feed-b", peer: "peer-b:5001" }), 1);
    const p = await appendSpaced(store, [
      event(1, { feed: "feed-a", wire: "CgQIARAC" }),
      event(2, { feed: "feed-b" }),
      event(3, { wire: "" }),
      event(4, { feed: "feed-a", peer: "peer-b:5001" }),
      event(5, { feed: "feed-b", peer: "peer-b:5001" }),
    ]);
    const all = await store.events.read();
    t.deepEqual(all[0], { position: start, ...event(0) }, "no feed or wire keys when not given");
    t.false("feed" in all[0]! || "wire" in all[0]!);
    t.deepEqual(all[1], { position: p[0]!, ...event(1), feed: "feed-a", wire: "CgQIARAC" });
    t.deepEqual(all[2], { position: p[1]!, ...event(2), feed: "feed-b" });
    t.false("wire" in all[2]!);
    t.deepEqual(all[3], { position: p[2]!, ...event(3), wire: "" });
    t.false("feed" in all[3]!);
    t.deepEqual(payloadN(await store.events.read({ feed: "feed-a" })), [1, 4]);
    t.deepEqual(payloadN(await store.events.read({ feed: "feed-a", peer: "peer-b:5001" })), [4]);
    t.deepEqual(payloadN(await store.events.read({ feed: "feed-b", limit: 1 })), [2]);
    t.deepEqual(payloadN(await store.events.read({ feed: "feed-a", after: p[0]! })), [4]);
    t.deepEqual(payloadN(await store.events.read({ feed: "nobody" })), []);
    t.deepEqual(await followA, [all[1]!, all[4]!]);
    t.deepEqual(await followB, [all[5]!]);
  });

  test(`${name}: events: entries keep why they ended (end: reason, hop, detail) only when given; older entries without one read as before`, async t => {
    const store = await open(t);
    const ended = { reason: "downstream_down", hop: "10.0.0.2:5001" };
    const positions = await appendSpaced(store, [
      event(0),
      event(1, { end: ended }),
      event(2, { type: "DELETE", end: { reason: "closed_by_client", hop: "nsmgr-proxy", detail: "the next hop's Close failed: gone" } }),
    ]);
    const entries = await store.events.read();
    t.deepEqual(entries.map(e => e.position), positions);
    t.false("end" in entries[0]!, "no end key when not given (as every entry written before reasons were recorded)");
    t.deepEqual(entries[1]!.end, ended);
    t.deepEqual(entries[2]!.end, { reason: "closed_by_client", hop: "nsmgr-proxy", detail: "the next hop's Close failed: gone" });
    const followed = await collect(store.events.follow({ after: positions[0]! }), 2);
    t.deepEqual(followed.map(e => e.end?.reason), ["downstream_down", "closed_by_client"]);
    const refused = await t.throwsAsync(store.events.append(event(3, { end: { reason: 7 } as unknown as EventInput["end"] })));
    t.regex(refused?.message ?? "", /end must be/);
  });

    test(`${name}: events: last() is undefined on an empty log, then the newest position`, async t => {
    const store = await open(t);
    t.is(await store.events.last(), undefined);
    const p0 = await store.events.append(event(0));
    t.is(await store.events.last(), p0);
    await store.events.append(event(1));
    const p2 = await store.events.append(event(2));
    t.is(await store.events.last(), p2);
  });

  test(`${name}: events: trimmedThrough() is "0-0" until a trim, then the newest trimmed position (exact trim by maxLen)`, async t => {
    const store = await open(t, { events: { maxLen: 3, trim: "exact" } });
    t.is(await store.events.trimmedThrough(), "0-0", "empty log");
    const p: string[] = [];
    for (let n = 0; n < 3; n++) p.push(await store.events.append(event(n)));
    t.is(await store.events.trimmedThrough(), "0-0", "full, nothing trimmed yet");
    p.push(await store.events.append(event(3)));
    t.is(await store.events.trimmedThrough(), p[0]!);
    p.push(await store.events.append(event(4)));
    t.is(await store.events.trimmedThrough(), p[1]!);
    t.deepEqual(payloadN(await store.events.read()), [2, 3, 4]);
    const trimmed = await store.events.trimmedThrough();
    // Reading after a position at or after trimmedThrough loses nothing; before it, something is gone.
    t.true(comparePositions(p[1]!, trimmed) >= 0);
    t.deepEqual(payloadN(await store.events.read({ after: p[1]! })), [2, 3, 4]);
    t.true(comparePositions(p[0]!, trimmed) < 0, "reading after p0 would miss entry 1");
    for (let n = 5; n < 9; n++) p.push(await store.events.append(event(n)));
    t.is(await store.events.trimmedThrough(), p[5]!);
    t.deepEqual(payloadN(await store.events.read()), [6, 7, 8]);
  });

  test(`${name}: events: trimmedThrough() follows age trimming (exact trim)`, async t => {
    const store = await open(t, { events: { maxAgeMs: 300, trim: "exact" } });
    const p0 = await store.events.append(event(0));
    const p1 = await store.events.append(event(1));
    t.is(await store.events.trimmedThrough(), "0-0");
    await sleep(450);
    await store.events.append(event(2));
    t.deepEqual(payloadN(await store.events.read()), [2]);
    t.is(await store.events.trimmedThrough(), p1);
    t.true(comparePositions(p0, p1) < 0);
  });

  test(`${name}: events: trimmedThrough() is the newest missing entry under approximate trimming too`, async t => {
    const store = await open(t, { events: { maxLen: 10 } });
    const p: string[] = [];
    for (let n = 0; n < 350; n++) p.push(await store.events.append(event(n)));
    const kept = await store.events.read({ limit: 10_000 });
    const missing = 350 - kept.length;
    t.true(missing > 0, "something was trimmed");
    t.is(kept[0]!.position, p[missing]!);
    t.is(await store.events.trimmedThrough(), p[missing - 1]!);
  });

  test(`${name}: events: follow receives live appends in order`, async t => {
    const store = await open(t);
    const start = await store.events.append(event(0));
    const received = collect(store.events.follow({ after: start }), 20);
    for (let n = 1; n <= 20; n++) await store.events.append(event(n));
    const entries = await received;
    t.deepEqual(payloadN(entries), Array.from({ length: 20 }, (_, i) => i + 1));
    t.deepEqual(entries, await store.events.read({ after: start }));
  });

  test(`${name}: events: follow resumes from a position: backlog, then live, no duplicates`, async t => {
    const store = await open(t);
    const p = await appendSpaced(store, [event(1), event(2), event(3)]);
    const first = collect(store.events.follow({ after: p[0]! }), 3);
    await sleep(50);
    const p4 = await store.events.append(event(4));
    t.deepEqual(payloadN(await first), [2, 3, 4]);
    await store.events.append(event(5));
    await store.events.append(event(6));
    const resumed = collect(store.events.follow({ after: p4 }), 3);
    await store.events.append(event(7));
    const entries = await resumed;
    t.deepEqual(payloadN(entries), [5, 6, 7]);
    // Nothing more arrives than was appended.
    const extra = await collect(store.events.follow({ after: p4 }), 4, 700).catch(() => "timeout");
    t.is(extra, "timeout");
  });

  test(`${name}: events: follow applies connection and peer filters`, async t => {
    const store = await open(t);
    const start = await store.events.append(event(0));
    const byConn = collect(store.events.follow({ after: start, connectionId: "conn-x" }), 2);
    const byPeer = collect(store.events.follow({ after: start, peer: "peer-b:5001" }), 2);
    await appendSpaced(store, [
      event(1, { connectionIds: ["conn-x"] }),
      event(2, { peer: "peer-b:5001" }),
      event(3),
      event(4, { connectionIds: ["conn-y", "conn-x"], peer: "peer-b:5001" }),
    ]);
    t.deepEqual(payloadN(await byConn), [1, 4]);
    t.deepEqual(payloadN(await byPeer), [2, 4]);
  });

  test(`${name}: events: follow without a position sees only what is appended after it started`, async t => {
    const store = await open(t);
    const old = await store.events.append(event(0));
    const received = collect(store.events.follow(), 1);
    let n = 1;
    let done = false;
    void received.finally(() => (done = true));
    while (!done && n < 100) {
      await store.events.append(event(n++));
      await sleep(50);
    }
    const [first] = await received;
    t.true(comparePositions(first!.position, old) > 0);
    t.not((first!.payload as { n: number }).n, 0);
  });

  test(`${name}: events: an invalid follow position errors with INVALID_ARGUMENT`, async t => {
    const store = await open(t);
    const error = await t.throwsAsync(collect(store.events.follow({ after: "x" }), 1), { instanceOf: ProxyError });
    t.is(error?.code, Code.INVALID_ARGUMENT);
  });

  test(`${name}: events: close() completes followers`, async t => {
    t.timeout(20_000);
    const store = await factory();
    const start = await store.events.append(event(0));
    const all = firstValueFrom(store.events.follow({ after: start }).pipe(toArray(), timeout(8000)));
    await store.events.append(event(1));
    await sleep(300);
    await store.close();
    t.deepEqual(payloadN(await all), [1]);
  });

  // ---- monitor feeds ----

  test(`${name}: feeds: register, list, touch; idle time grows and touch resets it; register keeps the spec`, async t => {
    const store = await open(t);
    const { feeds } = store;
    t.deepEqual(await feeds.list(), []);
    await feeds.register("f1", '{"kind":"a","n":1}');
    await sleep(300);
    await feeds.register("f2", '{"kind":"b"}');
    let listed = byKey(await feeds.list());
    t.deepEqual(Object.keys(listed).sort(), ["f1", "f2"]);
    t.is(listed.f1!.spec, '{"kind":"a","n":1}');
    t.is(listed.f2!.spec, '{"kind":"b"}');
    t.true(listed.f1!.idleMs >= 250 && listed.f1!.idleMs < 5000, `f1 idle ${listed.f1!.idleMs}`);
    t.true(listed.f2!.idleMs >= 0 && listed.f2!.idleMs < 250, `f2 idle ${listed.f2!.idleMs}`);
    await feeds.touch(["f1", "unknown"]);
    await feeds.touch([]);
    listed = byKey(await feeds.list());
    t.deepEqual(Object.keys(listed).sort(), ["f1", "f2"], "touching an unknown key does not register it");
    t.true(listed.f1!.idleMs < 250, `f1 idle ${listed.f1!.idleMs} after touch`);
    await sleep(300);
    await feeds.register("f1", '{"kind":"other"}');
    listed = byKey(await feeds.list());
    t.is(listed.f1!.spec, '{"kind":"a","n":1}', "an existing spec is kept");
    t.true(listed.f1!.idleMs < 250, `f1 idle ${listed.f1!.idleMs} after register (touches)`);
    t.true(listed.f2!.idleMs >= 250, `f2 idle ${listed.f2!.idleMs}`);
    for (const call of [() => feeds.register("", "{}"), () => feeds.touch(["ok", ""]), () => feeds.remove(""), () => feeds.remove("f1", -1), () => feeds.snapshot("")]) {
      const error = await t.throwsAsync(call(), { instanceOf: ProxyError });
      t.is(error?.code, Code.INVALID_ARGUMENT);
    }
  });

  test(`${name}: feeds: remove forgets a feed; with ifIdleForMs only when it has been idle that long`, async t => {
    const store = await open(t);
    const { feeds } = store;
    await feeds.register("gone", "{}");
    await feeds.register("busy", '{"b":1}');
    await feeds.register("idle", '{"i":1}');
    t.true(await feeds.remove("gone"));
    t.false(await feeds.remove("gone"), "already removed");
    t.false(await feeds.remove("never-there"));
    t.false(await feeds.remove("never-there", 0));
    t.deepEqual(Object.keys(byKey(await feeds.list())).sort(), ["busy", "idle"]);
    t.false(await feeds.remove("idle", 10_000), "registered just now");
    await sleep(300);
    await feeds.touch(["busy"]);
    t.false(await feeds.remove("busy", 200), "touched just now");
    t.true(await feeds.remove("idle", 200), "idle for 300 ms");
    t.deepEqual(Object.keys(byKey(await feeds.list())), ["busy"]);
    t.true(await feeds.remove("busy", 0), "0: whenever");
    t.deepEqual(await feeds.list(), []);
    await feeds.register("gone", '{"again":1}');
    t.is(byKey(await feeds.list()).gone?.spec, '{"again":1}', "registered afresh after removal");
  });

  test(`${name}: feeds: append is fenced by the feed's lease; it writes the entry and the snapshot together`, async t => {
    const store = await open(t);
    const { feeds, replicas, events } = store;
    const lease = feedLease("f");
    t.is(lease, "feed:f");
    await feeds.register("f", '{"kind":"test"}');
    const followed = collect(events.follow({ after: "0-0", feed: "f" }), 3);

    t.is(await feeds.append("f", "A", event(1), "s1"), undefined, "lease free: refused");
    t.true(await replicas.tryAcquire(lease, "B", 10_000));
    t.is(await feeds.append("f", "A", event(2), "s2"), undefined, "lease held by B: refused");
    t.is(await events.last(), undefined, "nothing in the log");
    t.deepEqual(await events.read(), []);
    t.is(await feeds.snapshot("f"), undefined, "no snapshot");

    t.true(await replicas.release(lease, "B"));
    t.true(await replicas.tryAcquire(lease, "A", 10_000));
    const p3 = await feeds.append("f", "A", event(3, { wire: "CgQIARAC" }), "s3");
    t.truthy(p3);
    t.deepEqual(await feeds.snapshot("f"), { position: p3!, state: "s3" });
    const tricky = 'quotes " \\ / newline \n unicode ✓ {"json":[1]}';
    const p4 = await feeds.append("f", "A", event(4, { feed: "not-this" }), tricky);
    t.truthy(p4);
    t.true(comparePositions(p4!, p3!) > 0);
    t.deepEqual(await feeds.snapshot("f"), { position: p4!, state: tricky });

    // The lease moves to B: A is fenced off, B writes.
    t.true(await replicas.release(lease, "A"));
    t.true(await replicas.tryAcquire(lease, "B", 10_000));
    t.is(await feeds.append("f", "A", event(5), "s5"), undefined, "A no longer holds the lease");
    t.deepEqual(await feeds.snapshot("f"), { position: p4!, state: tricky }, "a refused append leaves the snapshot");
    const p6 = await feeds.append("f", "B", event(6), "s6");
    t.truthy(p6);
    t.deepEqual(await feeds.snapshot("f"), { position: p6!, state: "s6" });

    const entries = await events.read();
    t.deepEqual(payloadN(entries), [3, 4, 6]);
    t.deepEqual(entries[0], { position: p3!, ...event(3), feed: "f", wire: "CgQIARAC" });
    t.deepEqual(entries[1], { position: p4!, ...event(4), feed: "f" }, "entry.feed is the feed's key");
    t.true(entries.every(e => e.feed === "f"));
    t.deepEqual(await events.read({ feed: "f" }), entries);
    t.deepEqual(await followed, entries, "followed by feed");
    t.is(await events.last(), p6);

    // A feed that is not registered may still be appended to; it stays unlisted.
    t.is(await feeds.append("g", "A", event(7), "sg"), undefined);
    t.true(await replicas.tryAcquire(feedLease("g"), "A", 10_000));
    const p7 = await feeds.append("g", "A", event(7), "sg");
    t.deepEqual(await feeds.snapshot("g"), { position: p7!, state: "sg" });
    t.deepEqual(Object.keys(byKey(await feeds.list())), ["f"]);
    t.deepEqual(payloadN(await events.read({ feed: "g" })), [7]);

    // remove forgets the snapshot too.
    t.true(await feeds.remove("f"));
    t.is(await feeds.snapshot("f"), undefined);
    t.true(await feeds.remove("g"), "an unregistered feed's snapshot is removed");
    t.is(await feeds.snapshot("g"), undefined);

    for (const call of [
      () => feeds.append("", "A", event(8), "s"),
      () => feeds.append("f", "", event(8), "s"),
      () => feeds.append("f", "B", event(8, { payload: { n: 10n } }), "s"),
      () => feeds.append("f", "B", { ...event(8), peer: 5 as unknown as string }, "s"),
    ]) {
      const error = await t.throwsAsync(call(), { instanceOf: ProxyError });
      t.is(error?.code, Code.INVALID_ARGUMENT);
    }
    t.is((await events.read()).length, 4, "nothing appended by invalid calls");
  });

  test(`${name}: feeds: an append without a state keeps the last snapshot as it was`, async t => {
    const store = await open(t);
    t.true(await store.replicas.tryAcquire(feedLease("f"), "A", 10_000));
    const p1 = await store.feeds.append("f", "A", event(1), "s1");
    const p2 = await store.feeds.append("f", "A", event(2));
    t.truthy(p2);
    t.deepEqual(await store.feeds.snapshot("f"), { position: p1!, state: "s1" });
    t.deepEqual(payloadN(await store.events.read({ feed: "f" })), [1, 2], "both entries are in the log");
  });

  test(`${name}: feeds: append is refused once the lease has expired`, async t => {
    const store = await open(t);
    const { feeds, replicas } = store;
    t.true(await replicas.tryAcquire(feedLease("f"), "A", 300));
    const p1 = await feeds.append("f", "A", event(1), "s1");
    t.truthy(p1);
    await sleep(450);
    t.is(await feeds.append("f", "A", event(2), "s2"), undefined);
    t.deepEqual(await feeds.snapshot("f"), { position: p1!, state: "s1" });
    t.deepEqual(payloadN(await store.events.read()), [1]);
  });

  test(`${name}: feeds: appends are trimmed with the log (exact)`, async t => {
    const store = await open(t, { events: { maxLen: 3, trim: "exact" } });
    const { feeds, replicas, events } = store;
    t.true(await replicas.tryAcquire(feedLease("f"), "A", 10_000));
    await events.append(event(0));
    const p: string[] = [];
    let other = "";
    for (let n = 1; n <= 5; n++) {
      if (n === 4) other = await events.append(event(30, { feed: "other" }));
      p.push((await feeds.append("f", "A", event(n), `s${n}`))!);
    }
    t.deepEqual(payloadN(await events.read()), [30, 4, 5]);
    t.is(await events.trimmedThrough(), p[2]!);
    await feeds.append("f", "A", event(6), "s6");
    t.is(await events.trimmedThrough(), other, "a plain append trimmed by a feed append");
    p.push(await events.append(event(7)));
    t.deepEqual(payloadN(await events.read()), [5, 6, 7]);
    t.is(await events.trimmedThrough(), p[3]!, "a feed's entry trimmed by a plain append");
    t.deepEqual(await feeds.snapshot("f"), { position: (await events.read({ feed: "f" })).at(-1)!.position, state: "s6" });
  });

  // ---- replicas and leases ----

  test(`${name}: replicas: heartbeats expire after their ttl; remove forgets at once`, async t => {
    const store = await open(t);
    t.deepEqual(await store.replicas.alive(), []);
    await store.replicas.heartbeat("r2", 10_000);
    await store.replicas.heartbeat("r1", 300);
    t.deepEqual(await store.replicas.alive(), ["r1", "r2"]);
    await sleep(500);
    t.deepEqual(await store.replicas.alive(), ["r2"]);
    await store.replicas.heartbeat("r1", 10_000);
    t.deepEqual(await store.replicas.alive(), ["r1", "r2"]);
    await store.replicas.remove("r2");
    t.deepEqual(await store.replicas.alive(), ["r1"]);
    const error = await t.throwsAsync(store.replicas.heartbeat("r3", 0), { instanceOf: ProxyError });
    t.is(error?.code, Code.INVALID_ARGUMENT);
  });

  test(`${name}: leases: exclusive; renew and release by the holder only; re-acquire by the holder renews`, async t => {
    const store = await open(t);
    const { replicas } = store;
    t.is(await replicas.holder("peer-x"), undefined);
    t.true(await replicas.tryAcquire("peer-x", "A", 10_000));
    t.false(await replicas.tryAcquire("peer-x", "B", 10_000));
    t.is(await replicas.holder("peer-x"), "A");
    t.true(await replicas.tryAcquire("peer-x", "A", 10_000), "the holder may acquire again");
    t.false(await replicas.renew("peer-x", "B", 10_000));
    t.true(await replicas.renew("peer-x", "A", 10_000));
    t.false(await replicas.release("peer-x", "B"));
    t.is(await replicas.holder("peer-x"), "A");
    t.true(await replicas.release("peer-x", "A"));
    t.is(await replicas.holder("peer-x"), undefined);
    t.false(await replicas.release("peer-x", "A"));
    t.true(await replicas.tryAcquire("peer-x", "B", 10_000));
    t.true(await replicas.tryAcquire("peer-y", "A", 10_000), "leases are independent");
    t.false(await replicas.renew("nobody-holds", "A", 1000));
  });

  test(`${name}: leases: expire unless renewed; then another replica takes over`, async t => {
    const store = await open(t);
    const { replicas } = store;
    t.true(await replicas.tryAcquire("short", "A", 300));
    t.true(await replicas.tryAcquire("renewed", "A", 400));
    await sleep(200);
    t.true(await replicas.renew("renewed", "A", 1500));
    await sleep(350); // 550 ms in: "short" (300) expired, "renewed" would have (400) without the renew
    t.is(await replicas.holder("short"), undefined);
    t.false(await replicas.renew("short", "A", 1000), "an expired lease cannot be renewed");
    t.true(await replicas.tryAcquire("short", "B", 10_000));
    t.is(await replicas.holder("renewed"), "A");
    t.false(await replicas.tryAcquire("renewed", "B", 10_000));
  });

  test(`${name}: leases: renewMany renews the holder's leases only and reports the others lost, in the order given`, async t => {
    const store = await open(t);
    const { replicas } = store;
    // Leases of 1.5 s, so that a loaded machine's pauses do not expire them before the renewal.
    t.true(await replicas.tryAcquire("a1", "A", 1500));
    t.true(await replicas.tryAcquire("a2", "A", 1500));
    t.true(await replicas.tryAcquire("b", "B", 1500));
    t.true(await replicas.tryAcquire("gone", "A", 100));
    await sleep(300); // "gone" has expired; the others have not
    t.deepEqual(await replicas.renewMany(["a1", "b", "gone", "free", "a2"], "A", 10_000), ["b", "gone", "free"]);
    t.is(await replicas.holder("b"), "B", "another holder's lease is left to it");
    t.is(await replicas.holder("gone"), undefined, "an expired lease is not taken back");
    t.is(await replicas.holder("free"), undefined, "a free lease is not taken");
    await sleep(1500); // 1.8 s in: a1, a2 and b (1.5 s) would have expired without a renewal
    t.is(await replicas.holder("a1"), "A");
    t.is(await replicas.holder("a2"), "A");
    t.is(await replicas.holder("b"), undefined, "B's lease was not extended by A's renewal");
    t.false(await replicas.tryAcquire("a1", "B", 10_000));
    t.deepEqual(await replicas.renewMany([], "A", 1000), []);
    t.deepEqual(await replicas.renewMany(["a1", "a2"], "B", 1000), ["a1", "a2"]);
    t.is(await replicas.holder("a1"), "A");
    const error = await t.throwsAsync(replicas.renewMany(["a1"], "A", 0), { instanceOf: ProxyError });
    t.is(error?.code, Code.INVALID_ARGUMENT);
  });
}
