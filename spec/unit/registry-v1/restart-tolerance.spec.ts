/**
 * The pieces that let a remote registry restart cost seconds: stale-answers (last good answer of a
 * listing Find, bounded in age and size) and watch-reconnect (backoff, caller's view kept), on sinon's
 * fake clock with a scripted next hop.
 */
import test from "ava";
import sinon from "sinon";
import { Observable, Subject, of, throwError } from "rxjs";
import { Code, ProxyError } from "../../../lib/pipeline/errors.js";
import type { Handler } from "../../../lib/pipeline/element.js";
import { remoteDomain } from "../../../lib/planes/registry/v1/interdomain-branch.js";
import { createAnswerCache, createRateLimit, staleAnswers } from "../../../lib/planes/registry/v1/stale-answers.js";
import { backoffDelay, createWatchView, watchReconnect } from "../../../lib/planes/registry/v1/watch-reconnect.js";
import { nseWatchEntries } from "../../../lib/planes/registry/v1/watch-entries.js";
import { installObserver, noopObserver } from "../../../lib/observability/observer.js";
import { recordingLog } from "../../support/log.js";
import { fakeClock } from "../../support/clock.js";
import type { NetworkServiceEndpointQuery, NetworkServiceEndpointResponse } from "../../../generated/nsm/registry.js";
import { all, ctx, errorOf, nse } from "./_support.js";

type Q = NetworkServiceEndpointQuery;
type R = NetworkServiceEndpointResponse;

const query = (ns: string, watch = false): Q => ({ networkServiceEndpoint: nse({ networkServiceNames: [ns] }), watch });
const found = (name: string, url = "tcp://10.0.0.1:5001", deleted = false): R => ({ networkServiceEndpoint: nse({ name, networkServiceNames: ["icmp"], url }), deleted });
const unavailable = () => new ProxyError(Code.UNAVAILABLE, "connect ECONNREFUSED 127.0.0.1:5002");
const inDomain = (domain = "cluster2") => ctx().with(remoteDomain, domain);

/** A next hop answering each call with the next scripted observable. */
function scripted(...answers: (() => Observable<R>)[]): Handler<Q, R> & { calls: Q[] } {
  const calls: Q[] = [];
  const handler = (req: Q) => {
    calls.push(req);
    const answer = answers.shift();
    if (answer === undefined) throw new Error(`unexpected call ${JSON.stringify(req)}`);
    return answer();
  };
  return Object.assign(handler, { calls });
}

function countStaleAnswers(t: { teardown(fn: () => void): void }) {
  const counted = sinon.spy();
  t.teardown(installObserver({ ...noopObserver, active: true, registryStaleAnswer: counted }));
  return counted;
}

// --- stale answers ---

test.serial("a listing Find is answered from the last good answer while the registry is UNAVAILABLE, within the window; warned once, counted each time", async t => {
  const clock = fakeClock(t, { now: 1_000_000 });
  const counted = countStaleAnswers(t);
  const log = recordingLog();
  const next = scripted(
    () => of(found("nse-1"), found("nse-2")),
    () => throwError(unavailable),
    () => throwError(() => new ProxyError(Code.DEADLINE_EXCEEDED, "dial took too long")),
  );
  const handler = staleAnswers<Q, R>({ staleForMs: 60_000, log })(next);
  const fresh = await all(handler(query("icmp"), inDomain()));
  clock.tick(10_000);
  t.deepEqual(await all(handler(query("icmp"), inDomain())), fresh);
  t.deepEqual(await all(handler(query("icmp"), inDomain())), fresh);
  t.is(next.calls.length, 3, "the registry is asked every time");
  t.is(log.messages("warn").length, 1, "one warn line per domain and interval");
  t.regex(log.messages("warn")[0] ?? "", /stale/);
  t.deepEqual(counted.args, [["cluster2"], ["cluster2"]]);
});

test.serial("an answer older than the window is not given: the caller gets the registry's error", async t => {
  const clock = fakeClock(t, { now: 1_000_000 });
  const next = scripted(() => of(found("nse-1")), () => throwError(unavailable));
  const handler = staleAnswers<Q, R>({ staleForMs: 60_000, log: recordingLog() })(next);
  await all(handler(query("icmp"), inDomain()));
  clock.tick(60_001);
  t.is((await errorOf(handler(query("icmp"), inDomain()))).code, Code.UNAVAILABLE);
});

test.serial("a registry that answers (NOT_FOUND, PERMISSION_DENIED, ...) is passed on as it is", async t => {
  fakeClock(t, { now: 1_000_000 });
  const next = scripted(
    () => of(found("nse-1")),
    () => throwError(() => new ProxyError(Code.NOT_FOUND, "no such service")),
    () => throwError(() => new ProxyError(Code.PERMISSION_DENIED, "policy")),
  );
  const handler = staleAnswers<Q, R>({ staleForMs: 60_000, log: recordingLog() })(next);
  await all(handler(query("icmp"), inDomain()));
  t.is((await errorOf(handler(query("icmp"), inDomain()))).code, Code.NOT_FOUND);
  t.is((await errorOf(handler(query("icmp"), inDomain()))).code, Code.PERMISSION_DENIED);
});

test.serial("answers are per domain and query; a failed answer, a watch and a window of 0 are never remembered", async t => {
  fakeClock(t, { now: 1_000_000 });
  const log = recordingLog();
  const next = scripted(
    () => of(found("nse-1")),
    () => throwError(unavailable), // other query
    () => throwError(unavailable), // other domain
    () => of(found("nse-2")).pipe(source => new Observable<R>(s => source.subscribe({ next: v => s.next(v), complete: () => s.error(unavailable()) }))),
    () => throwError(unavailable), // after a half answer: the first full one is still the last good
  );
  const handler = staleAnswers<Q, R>({ staleForMs: 60_000, log })(next);
  await all(handler(query("icmp"), inDomain()));
  t.is((await errorOf(handler(query("vl3"), inDomain()))).code, Code.UNAVAILABLE);
  t.is((await errorOf(handler(query("icmp"), inDomain("cluster3")))).code, Code.UNAVAILABLE);
  t.deepEqual(await all(handler(query("icmp"), inDomain())), [found("nse-1")], "a broken answer gives the last good one instead, whole");
  t.deepEqual(await all(handler(query("icmp"), inDomain())), [found("nse-1")]);

  const watching = scripted(() => throwError(unavailable));
  t.is((await errorOf(staleAnswers<Q, R>({ staleForMs: 60_000, log })(watching)(query("icmp", true), inDomain()))).code, Code.UNAVAILABLE);
  const off = scripted(() => of(found("nse-1")), () => throwError(unavailable));
  const handlerOff = staleAnswers<Q, R>({ staleForMs: 0, log })(off);
  await all(handlerOff(query("icmp"), inDomain()));
  t.is((await errorOf(handlerOff(query("icmp"), inDomain()))).code, Code.UNAVAILABLE);
});

test.serial("a registry that does not answer at all: the last good answer comes just before the call's deadline; without one the call is left to its deadline", async t => {
  const clock = fakeClock(t, { now: 1_000_000 });
  const counted = countStaleAnswers(t);
  let cancelled = 0;
  const hanging = () => new Observable<R>(() => () => void cancelled++);
  const next = scripted(() => of(found("nse-1")), hanging, hanging);
  const handler = staleAnswers<Q, R>({ staleForMs: 60_000, log: recordingLog() })(next);
  await all(handler(query("icmp"), inDomain().withDeadline(Date.now() + 10_000)));
  const seen: R[] = [];
  let completed = false;
  handler(query("icmp"), inDomain().withDeadline(Date.now() + 10_000)).subscribe({ next: r => void seen.push(r), complete: () => (completed = true) });
  await clock.tickAsync(8_999);
  t.false(completed, "the registry still has time");
  await clock.tickAsync(1);
  t.true(completed, "answered 1 s before the deadline");
  t.deepEqual(seen, [found("nse-1")]);
  t.is(cancelled, 1, "the hanging call is cancelled");
  t.is(counted.callCount, 1);

  let settled = false;
  handler(query("vl3"), inDomain().withDeadline(Date.now() + 10_000)).subscribe({ next: () => (settled = true), complete: () => (settled = true), error: () => (settled = true) });
  await clock.tickAsync(20_000);
  t.false(settled, "nothing to fall back on: the deadline element above decides");
});

test("the answer cache keeps at most N queries (least recently used go first) and no answer longer than the bound", t => {
  const cache = createAnswerCache<number>(2, 3);
  cache.set("a", [1], 0);
  cache.set("b", [2], 0);
  cache.get("a");
  cache.set("c", [3], 0);
  t.deepEqual([cache.get("a")?.responses, cache.get("b"), cache.get("c")?.responses], [[1], undefined, [3]]);
  cache.set("a", [1, 2, 3, 4], 5);
  t.is(cache.get("a"), undefined, "too long: not kept, and the older answer is dropped too");
  t.is(cache.size, 1);
});

test.serial("the warn rate limit lets one line per key through per interval", t => {
  const clock = fakeClock(t, { now: 1_000_000 });
  const allow = createRateLimit(30_000);
  t.deepEqual([allow("a"), allow("a"), allow("b")], [true, false, true]);
  clock.tick(30_000);
  t.true(allow("a"));
});

// --- watch reconnect ---

test("backoff: 100 ms doubling to 5 s, jittered between half and all of it", t => {
  const delays = [0, 1, 2, 3, 4, 5, 6, 10].map(attempt => backoffDelay(attempt, 100, 5_000, () => 1));
  t.deepEqual(delays, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
  t.is(backoffDelay(2, 100, 5_000, () => 0), 200);
});

test("the caller's view: unchanged entries are not repeated, deleted ones leave it, missing ones come back as deleted", t => {
  const view = createWatchView(nseWatchEntries);
  t.deepEqual([view.pass(found("a")), view.pass(found("a")), view.pass(found("a", "tcp://10.0.0.9:5001")), view.pass(found("b"))], [true, false, true, true]);
  t.deepEqual(view.gone([found("b")]), [found("a", "tcp://10.0.0.9:5001", true)]);
  t.true(view.pass(found("b", undefined, true)));
  t.false(view.pass(found("b", undefined, true)), "a deletion of something the caller does not hold tells nothing");
});

test.serial("a broken watch is reopened with backoff; the caller sees what changed while away, once, and the stream goes on", async t => {
  const clock = fakeClock(t, { now: 1_000_000 });
  const log = recordingLog();
  const streams: Subject<R>[] = [];
  const watchStream = () => {
    const s = new Subject<R>();
    streams.push(s);
    return s;
  };
  const next = scripted(
    watchStream, // first watch
    () => throwError(unavailable), // reconnect 1: the watch fails at once (registry still down): no listing
    watchStream, // reconnect 2: watch opens
    () => of(found("a"), found("b", "tcp://10.0.0.2:5001"), found("d")), // listing: a same, b changed, c gone, d new
  );
  const handler = watchReconnect<Q, R>(nseWatchEntries, { giveUpAfterMs: 60_000, listTimeoutMs: 5_000, log, random: () => 1 })(next);
  const seen: R[] = [];
  let ended: unknown;
  const subscription = handler(query("icmp", true), inDomain()).subscribe({ next: r => void seen.push(r), error: e => (ended = e) });
  streams[0]?.next(found("a"));
  streams[0]?.next(found("b"));
  streams[0]?.next(found("c"));
  streams[0]?.error(unavailable());
  t.is(next.calls.length, 1, "not reopened before the first delay");
  await clock.tickAsync(100);
  t.is(next.calls.length, 2, "first retry");
  await clock.tickAsync(199);
  t.is(next.calls.length, 2, "the second delay is doubled");
  await clock.tickAsync(1);
  t.is(next.calls.length, 4, "second retry: watch, then listing");
  t.deepEqual([next.calls[2]?.watch, next.calls[3]?.watch], [true, false], "the listing is a watch: false Find");
  streams[1]?.next(found("a"));
  streams[1]?.next(found("e"));
  const told = seen.map(r => `${r.networkServiceEndpoint?.name}${r.deleted ? " deleted" : ""} ${r.networkServiceEndpoint?.url}`);
  t.deepEqual(
    told,
    ["a tcp://10.0.0.1:5001", "b tcp://10.0.0.1:5001", "c tcp://10.0.0.1:5001", "c deleted tcp://10.0.0.1:5001", "b tcp://10.0.0.2:5001", "d tcp://10.0.0.1:5001", "e tcp://10.0.0.1:5001"],
    "a not repeated; c gone while away: deleted; b changed; d and e new",
  );
  t.is(ended, undefined);
  t.true(streams[1]?.observed, "the new watch stream is held");
  t.is(log.messages("warn").length, 1);
  t.is(log.messages("info").length, 1, "reconnected, logged");
  subscription.unsubscribe();
  t.false(streams[1]?.observed, "cancelling the caller's stream cancels the upstream one");
});

test.serial("a registry out of reach longer than the bound ends the caller's stream UNAVAILABLE; another error ends it at once", async t => {
  const clock = fakeClock(t, { now: 1_000_000 });
  const failing = () => throwError(unavailable);
  const next = scripted(...Array.from({ length: 40 }, () => failing));
  const handler = watchReconnect<Q, R>(nseWatchEntries, { giveUpAfterMs: 3_000, listTimeoutMs: 1_000, log: recordingLog(), random: () => 1 })(next);
  let ended: ProxyError | undefined;
  handler(query("icmp", true), inDomain()).subscribe({ error: e => (ended = e as ProxyError) });
  await clock.tickAsync(2_900);
  t.is(ended, undefined, "still trying within the bound");
  await clock.tickAsync(100);
  t.is(ended?.code, Code.UNAVAILABLE, "the last try is at the bound");
  const calls = next.calls.length;
  await clock.tickAsync(10_000);
  t.is(next.calls.length, calls, "no attempt after giving up");

  const denied = scripted(() => throwError(() => new ProxyError(Code.PERMISSION_DENIED, "policy")));
  let deniedEnd: ProxyError | undefined;
  watchReconnect<Q, R>(nseWatchEntries, { giveUpAfterMs: 3_000, listTimeoutMs: 1_000, log: recordingLog() })(denied)(query("icmp", true), inDomain()).subscribe({
    error: e => (deniedEnd = e as ProxyError),
  });
  t.is(deniedEnd?.code, Code.PERMISSION_DENIED);
  t.is(denied.calls.length, 1);
});

test.serial("cancelling the caller's stream while waiting to reconnect stops the attempts; a window of 0 never reconnects", async t => {
  const clock = fakeClock(t, { now: 1_000_000 });
  const next = scripted(() => throwError(unavailable));
  const subscription = watchReconnect<Q, R>(nseWatchEntries, { giveUpAfterMs: 60_000, listTimeoutMs: 1_000, log: recordingLog() })(next)(query("icmp", true), inDomain()).subscribe({ error() {} });
  subscription.unsubscribe();
  await clock.tickAsync(10_000);
  t.is(next.calls.length, 1);

  const off = scripted(() => throwError(unavailable));
  t.is((await errorOf(watchReconnect<Q, R>(nseWatchEntries, { giveUpAfterMs: 0, listTimeoutMs: 1_000, log: recordingLog() })(off)(query("icmp", true), inDomain()))).code, Code.UNAVAILABLE);
});
