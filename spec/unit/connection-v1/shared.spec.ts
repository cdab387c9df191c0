/**
 * Replicas sharing v1 connection records (shared-connections.ts), as two planes in one process over
 * one in-memory store marked shared and one scripted next hop: what a store failure does to Request,
 * Close and monitor streams; expiry that follows another replica's refresh, forgets a connection
 * closed elsewhere, closes its own and takes over one whose replica is gone; and that an unshared
 * store is never touched.
 */
import test from "ava";
import { Observable, Subject, firstValueFrom, of, throwError } from "rxjs";
import type { CallContext } from "../../../lib/pipeline/context.js";
import { Code, ProxyError } from "../../../lib/pipeline/errors.js";
import type { MethodDescriptor, Upstream } from "../../../lib/pipeline/upstream.js";
import { createV1ConnectionPlane } from "../../../lib/planes/connection/v1/v1-connection-plane.js";
import type { ConnectionTable } from "../../../lib/planes/connection/v1/connection-table.js";
import { createMemoryEventLog } from "../../../lib/state/memory/event-log.js";
import { unusedFeeds } from "../../support/unused-feeds.js";
import type { PlaneDeps } from "../../../lib/planes/deps.js";
import type { RouteStore } from "../../../lib/state/route-store.js";
import { createMemoryConnectionStore, createMemoryRouteStore, createMemoryV1ConnectionStore } from "../../../lib/state/memory/records.js";
import type { V1ConnectionStore } from "../../../lib/state/v1-connection-store.js";
import { createIpMap } from "../../../lib/nodes/ip-map.js";
import { createNodeMap } from "../../../lib/nodes/node-map.js";
import { createDomainResolver } from "../../../lib/domains/resolve.js";
import { type Logger, silentLogger } from "../../../lib/log.js";
import type { RemoteClusterInfo } from "../../../lib/domains/remote-cluster-info.js";
import { testConfig } from "../../support/gateway.js";
import { type Connection, type ConnectionEvent, ConnectionEventType, type MonitorScopeSelector, State } from "../../../generated/nsm/connection.js";
import type { NetworkServiceRequest } from "../../../generated/nsm/networkservice.js";
import { ctx, errorOf, fwdRequest, seg } from "./_support.js";
import { fakeClock } from "../../support/clock.js";
import { waitFor } from "../../support/wait.js";

type Op = "put" | "get" | "delete" | "list" | "find";

/** A store whose operations are counted and can be made to fail with UNAVAILABLE. */
function instrumented(inner: V1ConnectionStore) {
  const calls: Op[] = [];
  const failing = new Set<Op>();
  const run = async <T>(op: Op, call: () => Promise<T>): Promise<T> => {
    calls.push(op);
    if (failing.has(op)) throw new ProxyError(Code.UNAVAILABLE, `state store: ${op}: down`);
    return call();
  };
  const store: V1ConnectionStore = {
    shared: inner.shared,
    put: record => run("put", () => inner.put(record)),
    get: id => run("get", () => inner.get(id)),
    delete: id => run("delete", () => inner.delete(id)),
    list: now => run("list", () => inner.list(now)),
    findBySegment: (segmentId, now) => run("find", () => inner.findBySegment(segmentId, now)),
  };
  return { store, calls, failing, inner };
}

/** The next hop (proxy-2 as a script): answers Requests, records Closes and monitor streams. */
function scriptedUpstream() {
  const requests: NetworkServiceRequest[] = [];
  const closes: Connection[] = [];
  const monitors: { address: string; selector: MonitorScopeSelector; events: Subject<ConnectionEvent> }[] = [];
  const upstream: Upstream = {
    unary<Req, Res>(_address: string, method: MethodDescriptor<Req, Res>, message: Req, _c: CallContext): Observable<Res> {
      if (method.path.endsWith("/Close")) {
        closes.push(message as Connection);
        return of({} as Res);
      }
      const req = message as NetworkServiceRequest;
      requests.push(req);
      const conn = req.connection!;
      const segments = [...conn.path!.pathSegments.slice(0, conn.path!.index + 1), seg("proxy-2", "proxy-2-id")];
      return of({ ...conn, path: { index: conn.path!.index, pathSegments: segments } } as Res);
    },
    serverStream<Req, Res>(address: string, _m: MethodDescriptor<Req, Res>, message: Req): Observable<Res> {
      const events = new Subject<ConnectionEvent>();
      monitors.push({ address, selector: message as MonitorScopeSelector, events });
      return events.asObservable() as unknown as Observable<Res>;
    },
    bidiStream: () => throwError(() => new Error("unused")),
    close: () => undefined,
  };
  return { upstream, requests, closes, monitors };
}

function replica(next: ReturnType<typeof scriptedUpstream>, routes: RouteStore, store: V1ConnectionStore, log: Logger = silentLogger) {
  const deps: PlaneDeps = {
    config: testConfig({ name: "proxy-1", maxTokenLifetimeMs: 60_000 }),
    upstream: next.upstream,
    resolver: createDomainResolver(),
    nodes: createNodeMap(),
    log,
    connections: createMemoryConnectionStore(),
    v1Connections: store,
    remoteClusterInfo: {} as RemoteClusterInfo,
    routes,
    ipMap: createIpMap(),
    clusterInfo: {},
    publicUrl: "tcp://127.0.0.1:5004",
    events: createMemoryEventLog(),
    ...unusedFeeds(),
  };
  let table!: ConnectionTable;
  const plane = createV1ConnectionPlane(deps, { inspect: s => (table = s.table), discovery: { urlOf: name => throwError(() => new ProxyError(Code.NOT_FOUND, `no ${name}`)) } });
  const events: ConnectionEvent[] = [];
  let ended: unknown;
  const watch = () =>
    plane.monitorConnections({ pathSegments: [seg("fwd-1", "fwd-1-id")], networkServices: [] }, ctx()).subscribe({ next: e => events.push(e), error: e => (ended = e) });
  return { plane, table, events, watch, ended: () => ended, log: deps.events };
}

async function routesTo(url: string): Promise<RouteStore> {
  const routes = createMemoryRouteStore();
  await routes.set("nse@domain-2", url);
  return routes;
}

async function twoReplicas(options: { shared?: boolean } = {}) {
  const next = scriptedUpstream();
  const routes = await routesTo("tcp://10.9.0.2:5004");
  const shared = instrumented(createMemoryV1ConnectionStore({ shared: options.shared ?? true }));
  const a = replica(next, routes, shared.store);
  const b = replica(next, routes, shared.store);
  return { next, shared, a, b, stop: () => [a, b].forEach(r => r.plane.shutdown()) };
}

const token = (lifetimeMs: number) => ({ "nsm-client-token": "fwd-token", "nsm-client-token-expires": new Date(Date.now() + lifetimeMs).toISOString() });
const refreshOf = (conn: Connection): NetworkServiceRequest => ({ connection: conn, mechanismPreferences: fwdRequest().mechanismPreferences });

test("an unshared store (the in-memory default) is never touched", async t => {
  const { next, shared, a, stop } = await twoReplicas({ shared: false });
  const watching = a.watch();
  const first = await firstValueFrom(a.plane.request(fwdRequest(), ctx(token(60_000))));
  await firstValueFrom(a.plane.request(refreshOf(first), ctx(token(60_000))));
  await firstValueFrom(a.plane.close(first, ctx(token(60_000))));
  t.is(next.closes.length, 1);
  t.deepEqual(shared.calls, []);
  t.is(a.events[0]?.type, ConnectionEventType.INITIAL_STATE_TRANSFER);
  watching.unsubscribe();
  stop();
});

test("one write per Request; B's refresh of A's connection loads the record once; Close through B deletes it", async t => {
  const { next, shared, a, b, stop } = await twoReplicas();
  const first = await firstValueFrom(a.plane.request(fwdRequest(), ctx(token(60_000))));
  t.deepEqual(shared.calls, ["put"], "a new connection: no read, one write");
  const ours = next.requests[0]!.connection!.id;
  await firstValueFrom(b.plane.request(refreshOf(first), ctx(token(60_000))));
  t.deepEqual(shared.calls, ["put", "get", "put"], "B reads A's record, then writes its own");
  t.is(next.requests[1]!.connection!.id, ours);
  t.is(b.table.get(ours)?.state, "established");
  await firstValueFrom(b.plane.request(refreshOf(first), ctx(token(60_000))));
  t.deepEqual(shared.calls.slice(3), ["put"], "B knows it now: one write");
  await firstValueFrom(b.plane.close(first, ctx()));
  t.is(next.closes.length, 1);
  t.is(await shared.inner.get(ours), undefined);
  stop();
});

test("a record that cannot be written: a new connection fails UNAVAILABLE and is closed downstream; a refresh fails and keeps its state", async t => {
  const { next, shared, a, stop } = await twoReplicas();
  const watching = a.watch();
  shared.failing.add("put");
  const failed = await errorOf(a.plane.request(fwdRequest(), ctx(token(60_000))));
  t.is(failed.code, Code.UNAVAILABLE);
  t.regex(failed.message, /v1 connection record not written/);
  t.deepEqual(a.table.entries(), []);
  await waitFor(() => next.closes.length > 0, 5000, "the Close downstream");
  t.is(next.closes.length, 1, "the connection made downstream is closed again");
  t.is(next.closes[0]?.id, next.requests[0]!.connection!.id);
  t.is(a.events.length, 1, "no UPDATE for a connection that was refused");

  shared.failing.delete("put");
  const first = await firstValueFrom(a.plane.request(fwdRequest(), ctx(token(60_000))));
  const ours = next.requests[1]!.connection!.id;
  shared.failing.add("put");
  t.is((await errorOf(a.plane.request(refreshOf(first), ctx(token(60_000))))).code, Code.UNAVAILABLE);
  t.is(a.table.get(ours)?.state, "established", "a failed refresh keeps the connection");
  t.is(a.events.at(-1)?.connections[ours]?.state, State.DOWN);
  t.is(next.closes.length, 1, "a refresh is not closed downstream");
  await waitFor(async () => (await a.log.read()).at(-1)?.end?.reason === "state_store_unavailable", 5000, "the DOWN in the log");
  t.deepEqual((await a.log.read()).at(-1)?.end, {
    reason: "state_store_unavailable",
    hop: "proxy-1",
    detail: "v1 connection record not written: state store: put: down",
  });
  watching.unsubscribe();
  stop();
});

test("why it ended, in the log: a reselect's Close is reselected, a failed refresh at the next hop refresh_failed, the caller's Close closed_by_client", async t => {
  const { next, a, stop } = await twoReplicas({ shared: false });
  const first = await firstValueFrom(a.plane.request(fwdRequest(), ctx(token(60_000))));
  await firstValueFrom(a.plane.request(refreshOf({ ...first, state: State.RESELECT_REQUESTED }), ctx(token(60_000))));
  const failing = next.upstream.unary;
  next.upstream.unary = () => throwError(() => new ProxyError(Code.UNAVAILABLE, "next hop 10.9.0.2:5004: gone"));
  await errorOf(a.plane.request(refreshOf(first), ctx(token(60_000))));
  next.upstream.unary = failing;
  await firstValueFrom(a.plane.close(first, ctx(token(60_000))));
  await waitFor(async () => (await a.log.read()).length >= 5, 5000, "five events in the log");
  t.deepEqual(
    (await a.log.read()).map(e => [e.type, e.end?.reason ?? null, e.end?.hop ?? null]),
    [
      ["UPDATE", null, null],
      ["DELETE", "reselected", "proxy-1"],
      ["UPDATE", null, null],
      ["UPDATE", "refresh_failed", "proxy-1"],
      ["DELETE", "closed_by_client", "proxy-1"],
    ],
  );
  stop();
});

test("Close: a record that cannot be deleted is logged, the Close succeeds; a record that cannot be read fails the Close of an unknown id", async t => {
  const { next, shared, a: _unused, b, stop } = await twoReplicas();
  const warnings: string[] = [];
  const a = replica(next, await routesTo("tcp://10.9.0.2:5004"), shared.store, { ...silentLogger, warn: msg => warnings.push(msg) });
  const first = await firstValueFrom(a.plane.request(fwdRequest(), ctx(token(60_000))));
  shared.failing.add("get");
  t.is((await errorOf(b.plane.close(first, ctx()))).code, Code.UNAVAILABLE, "B cannot know what A recorded");
  t.deepEqual(b.table.entries(), []);
  shared.failing.clear();
  shared.failing.add("delete");
  await firstValueFrom(a.plane.close(first, ctx()));
  t.is(next.closes.length, 1);
  t.deepEqual(a.table.entries(), []);
  t.deepEqual(warnings, ["v1: connection record not deleted after Close"]);
  a.plane.shutdown();
  stop();
});

test("monitor through B: A's connection in the initial state, B's own downstream monitor relays; an unreadable store ends the stream UNAVAILABLE", async t => {
  const { next, shared, a, b, stop } = await twoReplicas();
  await firstValueFrom(a.plane.request(fwdRequest(), ctx(token(60_000))));
  const ours = next.requests[0]!.connection!.id;
  t.is(next.monitors.length, 1, "A's downstream monitor");
  const watching = b.watch();
  await waitFor(() => b.events.length > 0 && next.monitors.length === 2, 5000, "B's initial state and its own downstream monitor");
  t.is(b.events[0]?.type, ConnectionEventType.INITIAL_STATE_TRANSFER);
  t.deepEqual(Object.keys(b.events[0]!.connections), [ours]);
  t.is(next.monitors.length, 2, "B opened its own");
  t.deepEqual(next.monitors[1]?.selector.pathSegments.map(s => [s.name, s.id]), [["proxy-1", ours]]);
  const theirs = { ...b.events[0]!.connections[ours]!, id: "proxy-2-id", path: { ...b.events[0]!.connections[ours]!.path!, index: 4 } };
  next.monitors[1]!.events.next({ type: ConnectionEventType.UPDATE, connections: { "proxy-2-id": { ...theirs, state: State.DOWN } } });
  t.is(b.events[1]?.connections[ours]?.state, State.DOWN);
  watching.unsubscribe();

  shared.failing.add("list");
  shared.failing.add("find"); // the selector names an id: its records are found by it
  const failing = b.watch();
  await waitFor(() => b.ended() !== undefined, 5000, "the stream's end");
  t.is((b.ended() as ProxyError).code, Code.UNAVAILABLE);
  failing.unsubscribe();
  stop();
});

test.serial("expiry: A follows B's refresh instead of closing; a connection closed through B is forgotten at A (DELETE to A's subscribers, no second Close)", async t => {
  const clock = fakeClock(t);
  const { next, shared, a, b, stop } = await twoReplicas();
  const first = await clock.outcome(firstValueFrom(a.plane.request(fwdRequest(), ctx(token(300)))));
  const ours = next.requests[0]!.connection!.id;
  await clock.outcome(firstValueFrom(b.plane.request(refreshOf(first), ctx(token(60_000)))));
  await clock.tickAsync(700);
  await clock.settle(); // a Close begun by a timer would need real work (a token) to reach the next hop
  t.is(next.closes.length, 0, "A's timer saw B's refresh");
  t.is(a.table.get(ours)?.state, "established");
  t.is(a.table.get(ours)?.stamp, undefined, "A no longer holds the last write");
  t.true(shared.calls.includes("get"));

  const other = await clock.outcome(firstValueFrom(a.plane.request(fwdRequest(), ctx(token(300)))));
  const otherId = next.requests[2]!.connection!.id;
  t.not(otherId, ours);
  const watching = a.watch();
  await clock.outcome(firstValueFrom(b.plane.close(other, ctx())));
  t.is(next.closes.length, 1);
  await clock.tickAsync(700);
  await clock.settle(); // a Close begun by a timer would need real work (a token) to reach the next hop
  t.is(next.closes.length, 1, "A did not close it again");
  t.is(a.table.get(otherId), undefined);
  t.is(a.events.at(-1)?.type, ConnectionEventType.DELETE);
  t.deepEqual(Object.keys(a.events.at(-1)!.connections), [otherId]);
  watching.unsubscribe();
  stop();
});

test.serial("expiry: A closes its own and deletes the record; B takes over closing one whose replica is gone", async t => {
  const clock = fakeClock(t);
  const { next, shared, a, b, stop } = await twoReplicas();
  await clock.outcome(firstValueFrom(a.plane.request(fwdRequest(), ctx(token(300)))));
  const ours = next.requests[0]!.connection!.id;
  await clock.tickAsync(150); // half the token's 300 ms
  await clock.untilWithoutTime(() => next.closes.length > 0, "A's expiry: its Close downstream");
  t.is(next.closes.length, 1, "A's own connection expired");
  t.is(await shared.inner.get(ours), undefined);

  await clock.outcome(firstValueFrom(a.plane.request(fwdRequest(), ctx(token(300)))));
  const again = next.requests[1]!.connection!.id;
  const watching = b.watch();
  await clock.tickAsync(10);
  a.plane.shutdown(); // A is gone: its timers with it
  await clock.tickAsync(300 + 1000 + 700);
  await clock.untilWithoutTime(() => next.closes.length > 1, "B's Close, begun by its timer, at the next hop");
  t.is(next.closes.length, 2, "B closed it after the record's expiry");
  t.is(next.closes[1]?.id, again);
  t.is(await shared.inner.get(again), undefined);
  t.is(b.events.at(-1)?.type, ConnectionEventType.DELETE);
  watching.unsubscribe();
  stop();
});

