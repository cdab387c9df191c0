import test from "ava";
import { Observable, Subject } from "rxjs";
import { createSharedUpstreams } from "../../../lib/planes/monitor/shared-upstream.js";
import { type Connection, type ConnectionEvent, ConnectionEventType } from "../../../generated/nsm/connection.js";
import { Code, ProxyError } from "../../../lib/pipeline/errors.js";

const conn = (id: string): Connection => ({ id, networkService: "s", mechanism: undefined, context: undefined, labels: {}, path: undefined, networkServiceEndpointName: "", payload: "", state: 0 });
const event = (type: ConnectionEventType, ...ids: string[]): ConnectionEvent => ({ type, connections: Object.fromEntries(ids.map(id => [id, conn(id)])) });

function collect(obs: Observable<ConnectionEvent>) {
  const got: ConnectionEvent[] = [];
  let error: ProxyError | undefined;
  const subscription = obs.subscribe({ next: e => got.push(e), error: (e: ProxyError) => (error = e) });
  return { got, subscription, error: () => error };
}

test("one upstream for many subscribers; the last to leave cancels it", t => {
  const shared = createSharedUpstreams();
  let opened = 0;
  let cancelled = 0;
  const upstream = new Subject<ConnectionEvent>();
  const open = () => {
    opened++;
    return new Observable<ConnectionEvent>(s => {
      const sub = upstream.subscribe(s);
      return () => {
        cancelled++;
        sub.unsubscribe();
      };
    });
  };
  const a = collect(shared.join("k", "peer", open));
  const b = collect(shared.join("k", "peer", open));
  t.is(opened, 1);
  const initial = event(ConnectionEventType.INITIAL_STATE_TRANSFER, "c1");
  upstream.next(initial);
  const update = event(ConnectionEventType.UPDATE, "c2");
  upstream.next(update);
  t.is(a.got[1], b.got[1], "the same event object reaches both (encoded once)");
  t.is(a.got.length, 2);

  const late = collect(shared.join("k", "peer", open));
  t.is(late.got[0]?.type, ConnectionEventType.INITIAL_STATE_TRANSFER);
  t.deepEqual(Object.keys(late.got[0]?.connections ?? {}).sort(), ["c1", "c2"], "a late subscriber starts from the folded state");

  upstream.next(event(ConnectionEventType.DELETE, "c1"));
  t.is(late.got.length, 2);
  a.subscription.unsubscribe();
  b.subscription.unsubscribe();
  t.is(cancelled, 0);
  late.subscription.unsubscribe();
  t.is(cancelled, 1);
  t.deepEqual(shared.keys(), []);
});

test("upstream end or failure ends every subscriber with UNAVAILABLE", t => {
  const shared = createSharedUpstreams();
  const upstream = new Subject<ConnectionEvent>();
  const a = collect(shared.join("k", "peer-1", () => upstream));
  const b = collect(shared.join("k", "peer-1", () => upstream));
  upstream.complete();
  t.is(a.error()?.code, Code.UNAVAILABLE);
  t.regex(a.error()?.message ?? "", /peer-1 ended/);
  t.is(b.error()?.code, Code.UNAVAILABLE);

  const failing = new Subject<ConnectionEvent>();
  const c = collect(shared.join("k2", "peer-2", () => failing));
  failing.error(new ProxyError(Code.CANCELLED, "gone"));
  t.regex(c.error()?.message ?? "", /peer-2 broke: gone/);
  t.deepEqual(shared.keys(), []);
});

test("a peer that skips its initial state still gives subscribers one first", t => {
  const shared = createSharedUpstreams();
  const upstream = new Subject<ConnectionEvent>();
  const a = collect(shared.join("k", "p", () => upstream));
  upstream.next(event(ConnectionEventType.UPDATE, "c1"));
  t.deepEqual(a.got.map(e => e.type), [ConnectionEventType.INITIAL_STATE_TRANSFER, ConnectionEventType.UPDATE]);
  a.subscription.unsubscribe();
});
