/**
 * The whole v1 connection plane over a scripted Upstream: frames, state per connection (serialized
 * calls, stored route, failed first Request forgotten, failed refresh kept), monitor events for
 * Request / refresh failure / Close / expiry, reselect, and shutdown.
 */
import test from "ava";
import { Observable, Subject, delay, firstValueFrom, of, throwError } from "rxjs";
import type { CallContext } from "../../../lib/pipeline/context.js";
import { Code, ProxyError } from "../../../lib/pipeline/errors.js";
import { type MethodDescriptor, type Upstream, outgoingMetadata } from "../../../lib/pipeline/upstream.js";
import { createV1ConnectionPlane } from "../../../lib/planes/connection/v1/v1-connection-plane.js";
import type { ConnectionTable } from "../../../lib/planes/connection/v1/connection-table.js";
import { createMemoryEventLog } from "../../../lib/state/memory/event-log.js";
import { unusedFeeds } from "../../support/unused-feeds.js";
import type { PlaneDeps } from "../../../lib/planes/deps.js";
import { createMemoryConnectionStore, createMemoryRouteStore } from "../../../lib/state/memory/records.js";
import { createIpMap } from "../../../lib/nodes/ip-map.js";
import { createNodeMap } from "../../../lib/nodes/node-map.js";
import { createDomainResolver } from "../../../lib/domains/resolve.js";
import { silentLogger } from "../../../lib/log.js";
import type { RemoteClusterInfo } from "../../../lib/domains/remote-cluster-info.js";
import { testConfig } from "../../support/gateway.js";
import { type Connection, type ConnectionEvent, ConnectionEventType, type MonitorScopeSelector, State } from "../../../generated/nsm/connection.js";
import type { NetworkServiceRequest } from "../../../generated/nsm/networkservice.js";
import { ctx, errorOf, fwdConnection, fwdRequest, seg } from "./_support.js";
import { fakeClock } from "../../support/clock.js";

interface Sent<T> {
  address: string;
  message: T;
  metadata: ReadonlyMap<string, string> | undefined;
}

/** The next hop as scripted: answers Requests like an NSMgr (appending its segment), records Closes, opens monitor streams on demand. */
function scriptedUpstream() {
  const requests: Sent<NetworkServiceRequest>[] = [];
  const closes: Sent<Connection>[] = [];
  const monitors: (Sent<MonitorScopeSelector> & { events: Subject<ConnectionEvent> })[] = [];
  const script = { fail: undefined as ProxyError | undefined, delayMs: 0 };
  const upstream: Upstream = {
    unary<Req, Res>(address: string, method: MethodDescriptor<Req, Res>, message: Req, c: CallContext): Observable<Res> {
      const metadata = c.get(outgoingMetadata);
      if (method.path.endsWith("/Close")) {
        closes.push({ address, message: message as Connection, metadata });
        return of({} as Res);
      }
      const req = message as NetworkServiceRequest;
      requests.push({ address, message: req, metadata });
      if (script.fail) return throwError(() => script.fail);
      const conn = req.connection!;
      const segments = [...conn.path!.pathSegments.slice(0, conn.path!.index + 1), seg("nsmgr-2", "nsmgr-2-id")];
      const answer: Connection = { ...conn, path: { index: conn.path!.index, pathSegments: segments }, mechanism: req.mechanismPreferences[0] };
      // A slow next hop; tests that set delayMs run on the fake clock (spec/support/clock.ts) and tick through it.
      return of(answer as Res).pipe(delay(script.delayMs));
    },
    serverStream<Req, Res>(address: string, _m: MethodDescriptor<Req, Res>, message: Req, c: CallContext): Observable<Res> {
      const events = new Subject<ConnectionEvent>();
      monitors.push({ address, message: message as MonitorScopeSelector, metadata: c.get(outgoingMetadata), events });
      return events.asObservable() as unknown as Observable<Res>;
    },
    bidiStream: () => throwError(() => new Error("unused")),
    close: () => undefined,
  };
  return { upstream, requests, closes, monitors, script };
}

async function setup(overrides: { registry?: boolean } = {}) {
  const next = scriptedUpstream();
  const routes = createMemoryRouteStore();
  await routes.set("nse@domain-2", "tcp://10.9.0.2:5004");
  const deps: PlaneDeps = {
    config: testConfig({ name: "proxy-1", maxTokenLifetimeMs: 60_000 }),
    upstream: next.upstream,
    resolver: createDomainResolver(),
    nodes: createNodeMap(),
    log: silentLogger,
    connections: createMemoryConnectionStore(),
    remoteClusterInfo: {} as RemoteClusterInfo,
    routes,
    ipMap: createIpMap([["10.1.0.5", "203.0.113.5"]]),
    clusterInfo: { clusterName: "cluster-1" },
    publicUrl: "tcp://127.0.0.1:5004",
    events: createMemoryEventLog(),
    ...unusedFeeds(),
  };
  let table!: ConnectionTable;
  const plane = createV1ConnectionPlane(deps, {
    inspect: s => (table = s.table),
    ...(overrides.registry ? {} : { discovery: { urlOf: name => throwError(() => new ProxyError(Code.NOT_FOUND, `no ${name}`)) } }),
  });
  const events: ConnectionEvent[] = [];
  let ended: unknown;
  const watching = plane
    .monitorConnections({ pathSegments: [seg("fwd-1", "fwd-1-id")], networkServices: [] }, ctx())
    .subscribe({ next: e => events.push(e), error: e => (ended = e) });
  return { plane, table, next, events, ended: () => ended, watching };
}

const fwdToken = { "nsm-client-token": "fwd-token", "nsm-client-token-expires": new Date(Date.now() + 600_000).toISOString() };

test("Request: out in our frame with our token along the learned route; back in the caller's frame; UPDATE in our frame", async t => {
  const { plane, table, next, events, watching } = await setup();
  const answer = await firstValueFrom(plane.request(fwdRequest(), ctx(fwdToken)));
  const sent = next.requests[0]!;
  const ourId = sent.message.connection!.id;
  t.is(sent.address, "10.9.0.2:5004");
  t.is(sent.message.connection?.path?.index, 3);
  t.is(sent.message.connection?.path?.pathSegments[3]?.name, "proxy-1");
  t.is(sent.message.connection?.path?.pathSegments[3]?.id, ourId);
  t.is(sent.message.connection?.path?.pathSegments[2]?.token, "fwd-token");
  t.is(sent.metadata?.get("nsm-client-token"), sent.message.connection?.path?.pathSegments[3]?.token);
  t.truthy(sent.metadata?.get("nsm-client-token-expires"));
  t.is(sent.message.connection?.labels.clusterName, "cluster-1");
  t.is(sent.message.mechanismPreferences[0]?.parameters.src_ip, "203.0.113.5");

  t.is(answer.id, "fwd-1-id");
  t.is(answer.path?.index, 2);
  t.is(answer.state, State.UP);
  t.is(answer.mechanism?.parameters.src_ip, "10.1.0.5");

  t.is(events[0]?.type, ConnectionEventType.INITIAL_STATE_TRANSFER);
  t.deepEqual(Object.keys(events[1]!.connections), [ourId]);
  t.is(events[1]!.connections[ourId]?.path?.index, 3, "our frame");
  t.is(events[1]!.connections[ourId]?.networkServiceEndpointName, "nse@domain-2");
  t.deepEqual(next.monitors.map(m => [m.address, m.message.pathSegments[0]?.name, m.message.pathSegments[0]?.id]), [["10.9.0.2:5004", "proxy-1", ourId]]);
  t.truthy(next.monitors[0]?.metadata?.get("nsm-client-token"), "the monitor stream carries our token too");
  t.deepEqual(table.entries().map(e => [e.id, e.state]), [[ourId, "established"]]);
  watching.unsubscribe();
  plane.shutdown();
});

test("refresh: same id, the downstream monitor kept; failed refresh: DOWN and state kept; Close: stored connection, DELETE, state gone", async t => {
  const { plane, table, next, events, watching } = await setup();
  const first = await firstValueFrom(plane.request(fwdRequest(), ctx(fwdToken)));
  const ourId = next.requests[0]!.message.connection!.id;
  const refreshed = await firstValueFrom(plane.request({ connection: first, mechanismPreferences: fwdRequest().mechanismPreferences }, ctx(fwdToken)));
  t.is(next.requests[1]!.message.connection!.id, ourId, "refresh reuses our segment id");
  t.is(refreshed.id, "fwd-1-id");
  t.is(next.monitors.length, 1, "one downstream monitor for the same next hop");

  next.script.fail = new ProxyError(Code.UNAVAILABLE, "next hop down");
  const failed = await errorOf(plane.request({ connection: refreshed, mechanismPreferences: [] }, ctx(fwdToken)));
  t.is(failed.code, Code.UNAVAILABLE, "the next hop's code is kept");
  const down = events.at(-1)!;
  t.is(down.type, ConnectionEventType.UPDATE);
  t.is(down.connections[ourId]?.state, State.DOWN);
  t.is(table.get(ourId)?.state, "established");
  t.true(next.monitors[0]!.events.observed === false, "the downstream monitor stopped");

  await firstValueFrom(plane.close(refreshed, ctx(fwdToken)));
  const closed = next.closes[0]!;
  t.is(closed.address, "10.9.0.2:5004");
  t.is(closed.message.id, ourId);
  t.is(closed.message.path?.index, 3);
  t.is(closed.message.networkServiceEndpointName, "nse@domain-2");
  t.truthy(closed.metadata?.get("nsm-client-token"));
  t.is(events.at(-1)?.type, ConnectionEventType.DELETE);
  t.deepEqual(Object.keys(events.at(-1)!.connections), [ourId]);
  t.deepEqual(table.entries(), []);
  watching.unsubscribe();
  plane.shutdown();
});

test("a failed first Request is forgotten and reported to nobody; errors are INVALID_ARGUMENT / NOT_FOUND as due", async t => {
  const { plane, table, next, events, watching } = await setup();
  next.script.fail = new ProxyError(Code.PERMISSION_DENIED, "no");
  t.is((await errorOf(plane.request(fwdRequest(), ctx(fwdToken)))).code, Code.PERMISSION_DENIED);
  t.deepEqual(table.entries(), []);
  t.is(events.length, 1, "only the initial state");
  t.is((await errorOf(plane.request(fwdRequest({ id: "wrong" }), ctx(fwdToken)))).code, Code.INVALID_ARGUMENT);
  t.is((await errorOf(plane.request(fwdRequest({ networkServiceEndpointName: "other@domain-3" }), ctx(fwdToken)))).code, Code.NOT_FOUND);
  t.is((await errorOf(plane.request({ connection: undefined, mechanismPreferences: [] }, ctx()))).code, Code.INVALID_ARGUMENT);
  t.deepEqual(table.entries(), []);
  watching.unsubscribe();
  plane.shutdown();
});

test.serial("Requests for one connection run one at a time", async t => {
  const clock = fakeClock(t);
  const { plane, next, watching } = await setup();
  const first = await clock.outcome(firstValueFrom(plane.request(fwdRequest(), ctx(fwdToken))));
  next.script.delayMs = 80;
  const order: string[] = [];
  const a = firstValueFrom(plane.request({ connection: first, mechanismPreferences: [] }, ctx(fwdToken))).then(() => order.push("a"));
  const b = firstValueFrom(plane.close(first, ctx(fwdToken))).then(() => order.push("b"));
  await clock.untilWithoutTime(() => next.requests.length === 2, "the refresh at the next hop (after signing our token: real work)");
  await clock.tickAsync(40);
  await clock.settle(); // time for a Close that did not wait to sign its token and arrive
  t.is(next.closes.length, 0, "Close waits for the Request in flight");
  await clock.tickAsync(40);
  await clock.untilWithoutTime(() => order.length === 2, "the Request and then the Close to end");
  t.deepEqual(order, ["a", "b"]);
  t.is(next.closes.length, 1);
  watching.unsubscribe();
  plane.shutdown();
});

test("a Close of an unknown connection is still routed downstream, with no DELETE", async t => {
  const { plane, next, events, watching } = await setup();
  const stale: Connection = { ...fwdConnection(), path: { index: 2, pathSegments: [...fwdConnection().path!.pathSegments, seg("proxy-1", "lost-id")] } };
  await firstValueFrom(plane.close(stale, ctx(fwdToken)));
  t.is(next.closes[0]?.address, "10.9.0.2:5004");
  t.is(next.closes[0]?.message.id, "lost-id");
  t.is(events.length, 1);
  watching.unsubscribe();
  plane.shutdown();
});

test.serial("expiry: no refresh before the caller's token expires closes downstream and reports DELETE", async t => {
  const clock = fakeClock(t);
  const { plane, table, next, events, watching } = await setup();
  const short = { "nsm-client-token": "fwd-token", "nsm-client-token-expires": new Date(Date.now() + 600).toISOString() };
  await clock.outcome(firstValueFrom(plane.request(fwdRequest(), ctx(short))));
  const ourId = next.requests[0]!.message.connection!.id;
  await clock.tickAsync(299);
  t.is(next.closes.length, 0, "not before halfway to the expiry");
  t.truthy(table.entries()[0]?.expiryTimer, "the expiry timer has not fired yet (its Close would still be signing a token)");
  await clock.tickAsync(1);
  await clock.untilWithoutTime(() => next.closes.length > 0, "the Close downstream (it signs a token: real work)");
  t.is(next.closes.length, 1);
  t.is(next.closes[0]?.message.id, ourId);
  t.is(events.at(-1)?.type, ConnectionEventType.DELETE);
  t.deepEqual(table.entries(), []);
  watching.unsubscribe();
  plane.shutdown();
});

test("reselect: an established connection asked with RESELECT_REQUESTED is closed downstream first", async t => {
  const { plane, next, events, watching } = await setup();
  const first = await firstValueFrom(plane.request(fwdRequest(), ctx(fwdToken)));
  await firstValueFrom(plane.request({ connection: { ...first, state: State.RESELECT_REQUESTED }, mechanismPreferences: [] }, ctx(fwdToken)));
  t.is(next.closes.length, 1);
  t.is(next.requests.length, 2);
  t.deepEqual(
    events.slice(1).map(e => e.type),
    [ConnectionEventType.UPDATE, ConnectionEventType.DELETE, ConnectionEventType.UPDATE],
  );
  watching.unsubscribe();
  plane.shutdown();
});

test("shutdown ends monitor subscribers with UNAVAILABLE and stops downstream monitors and timers", async t => {
  const { plane, table, next, ended } = await setup();
  await firstValueFrom(plane.request(fwdRequest(), ctx(fwdToken)));
  plane.shutdown();
  t.is((ended() as ProxyError).code, Code.UNAVAILABLE);
  t.false(next.monitors[0]!.events.observed);
  t.deepEqual(table.entries(), []);
});

test("discovery through the registry: NSM_REGISTRY_URL unset is UNAVAILABLE", async t => {
  const { plane, watching } = await setup({ registry: true });
  const error = await errorOf(plane.request(fwdRequest({ networkServiceEndpointName: "other@domain-3" }), ctx(fwdToken)));
  t.is(error.code, Code.UNAVAILABLE);
  t.regex(error.message, /NSM_REGISTRY_URL/);
  watching.unsubscribe();
  plane.shutdown();
});

