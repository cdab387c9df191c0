import test from "ava";
import sinon from "sinon";
import { fakeClock } from "../../support/clock.js";
import { NEVER, Observable, firstValueFrom, lastValueFrom, map, of, toArray } from "rxjs";
import { chain, named, type Handler } from "../../../lib/pipeline/element.js";
import { contextKey, createCallContext } from "../../../lib/pipeline/context.js";
import { deadline } from "../../../lib/pipeline/deadline.js";
import { Code, ProxyError } from "../../../lib/pipeline/errors.js";
import { setTracing } from "../../../lib/pipeline/trace.js";

const ctx = () => createCallContext({ method: "/test.Service/Call" });

test("elements run in order out, and in reverse on the way back", async t => {
  const seen: string[] = [];
  const tag = (name: string) =>
    named<string, string>(name, next => (req, c) => {
      seen.push(`out ${name}`);
      return next(`${req}>${name}`, c).pipe(map(res => `${res}<${name}`));
    });
  const terminal: Handler<string, string> = req => of(`[${req}]`);
  const handler = chain(tag("a"), tag("b"))(terminal);
  t.is(await firstValueFrom(handler("r", ctx())), "[r>a>b]<b<a");
  t.deepEqual(seen, ["out a", "out b"]);
});

test("a synchronous throw becomes an error notification, not an exception", async t => {
  const boom = named<string, string>("boom", () => () => {
    throw new ProxyError(Code.INVALID_ARGUMENT, "bad");
  });
  const handler = chain(boom)(() => of("x"));
  const error = await t.throwsAsync(firstValueFrom(handler("r", ctx())));
  t.is((error as ProxyError).code, Code.INVALID_ARGUMENT);
});

test("context values are copied, never shared between calls", t => {
  const key = contextKey<string>("k");
  const base = ctx();
  const withValue = base.with(key, "v");
  t.is(withValue.get(key), "v");
  t.is(base.get(key), undefined);
  t.throws(() => base.require(key), { message: /no "k"/ });
});

test("unsubscribing cancels the call below", t => {
  const teardown = sinon.spy();
  const terminal: Handler<string, string> = () => new Observable<string>(() => teardown);
  const subscription = chain<string, string>()(terminal)("r", ctx()).subscribe();
  t.false(teardown.called);
  subscription.unsubscribe();
  t.true(teardown.calledOnce);
});

test.serial("deadline: the caller's deadline is kept, a missing one gets the default, and it is enforced", async t => {
  const clock = fakeClock(t, { now: 1_000_000 });
  let seenDeadline: number | undefined;
  const spy: Handler<string, string> = (_req, c) => {
    seenDeadline = c.deadline;
    return NEVER;
  };
  const handler = chain(deadline<string, string>(500))(spy);
  const pending = lastValueFrom(handler("r", ctx()));
  t.is(seenDeadline, 1_000_500);
  const rejected = t.throwsAsync(pending);
  await clock.tickAsync(501);
  const error = (await rejected) as ProxyError;
  t.is(error.code, Code.DEADLINE_EXCEEDED);

  const own = chain(deadline<string, string>(500))(spy);
  own("r", createCallContext({ method: "/m", deadline: 1_000_000 + 700 + 501 })).subscribe({ error: () => undefined });
  t.is(seenDeadline, 1_001_201);
});

test("ProxyError.from keeps status codes and wraps the rest as INTERNAL", t => {
  t.is(ProxyError.from({ code: 14, details: "down" }).code, Code.UNAVAILABLE);
  t.is(ProxyError.from({ code: 14, details: "down" }).message, "down");
  t.is(ProxyError.from(new Error("x")).code, Code.INTERNAL);
  t.is(ProxyError.from({ code: 99 }).code, Code.INTERNAL);
  t.is(ProxyError.from("text", Code.UNAVAILABLE).code, Code.UNAVAILABLE);
});

test("tracing is switched on by name and prints request, response and completion", async t => {
  const lines: string[] = [];
  setTracing("traced-one", line => lines.push(line));
  t.teardown(() => setTracing(undefined));
  const handler = chain(named<string, string>("traced-one", next => next), named<string, string>("quiet", next => next))(req => of(req.toUpperCase()));
  t.deepEqual(await lastValueFrom(handler("hi", ctx()).pipe(toArray())), ["HI"]);
  t.is(lines.length, 3);
  t.regex(lines[0] ?? "", /^trace \w+ traced-one request \/test\.Service\/Call "hi"$/);
  t.regex(lines[1] ?? "", /traced-one response "HI"/);
  t.regex(lines[2] ?? "", /traced-one complete/);
});
