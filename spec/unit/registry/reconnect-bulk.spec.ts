import test from "ava";
import { Observable, Subject, lastValueFrom, of, toArray } from "rxjs";
import { chain, type Handler } from "../../../lib/pipeline/element.js";
import { Code, ProxyError } from "../../../lib/pipeline/errors.js";
import { reconnectBulk } from "../../../lib/planes/registry/reconnect-bulk.js";
import { fakeClock } from "../../support/clock.js";
import { ctx, recordingLog } from "./_support.js";

/** One upstream stream the fake opened: what it received and levers to make it ack, fail or end. */
interface Attempt {
  readonly received: string[];
  /** Acks arrive as "ack:<message>"; while false, messages are received but not answered. */
  acking: boolean;
  inputEnded: boolean;
  unsubscribed: boolean;
  fail(code: Code): void;
  end(): void;
}

/** A fake upstream (NSMRS): acks each message it receives and completes when its input ends. */
function fakeUpstream(acking: (attempt: number) => boolean = () => true) {
  const attempts: Attempt[] = [];
  const handler: Handler<Observable<string>, string> = input =>
    new Observable<string>(subscriber => {
      const attempt: Attempt = {
        received: [],
        acking: acking(attempts.length),
        inputEnded: false,
        unsubscribed: false,
        fail: code => subscriber.error(new ProxyError(code, `upstream broke (${Code[code]})`)),
        end: () => subscriber.complete(),
      };
      attempts.push(attempt);
      const sub = input.subscribe({
        next: m => {
          attempt.received.push(m);
          if (attempt.acking) subscriber.next(`ack:${m}`);
        },
        complete: () => {
          attempt.inputEnded = true;
          subscriber.complete();
        },
      });
      return () => {
        attempt.unsubscribed = true;
        sub.unsubscribe();
      };
    });
  return { attempts, handler };
}

const FAST = { delayMs: 5, tries: 3 };

function collect(observable: Observable<string>) {
  const values: string[] = [];
  let error: ProxyError | undefined;
  let completed = false;
  const subscription = observable.subscribe({
    next: v => values.push(v),
    error: (e: unknown) => (error = e as ProxyError),
    complete: () => (completed = true),
  });
  return {
    values,
    subscription,
    get error() {
      return error;
    },
    get completed() {
      return completed;
    },
    get ended() {
      return completed || error !== undefined;
    },
  };
}

test("messages are forwarded and acknowledged; the stream completes after the caller half-closes", async t => {
  const up = fakeUpstream();
  const out = await lastValueFrom(chain(reconnectBulk<string, string>(FAST))(up.handler)(of("a", "b", "c"), ctx()).pipe(toArray()));
  t.deepEqual(out, ["ack:a", "ack:b", "ack:c"]);
  t.is(up.attempts.length, 1);
  t.true(up.attempts[0]?.inputEnded);
});

test("an empty caller stream completes without dialling", async t => {
  const up = fakeUpstream();
  t.deepEqual(await lastValueFrom(chain(reconnectBulk<string, string>(FAST))(up.handler)(of(), ctx()).pipe(toArray())), []);
  t.is(up.attempts.length, 0);
});

test.serial("after an upstream failure, only the unacknowledged messages are sent again, and each is acked once", async t => {
  const clock = fakeClock(t);
  const up = fakeUpstream(n => n > 0); // the first upstream receives but never answers after "a"
  const caller = new Subject<string>();
  const got = collect(chain(reconnectBulk<string, string>(FAST))(up.handler)(caller, ctx()));
  const first = up.attempts[0]!;
  first.acking = true;
  caller.next("a");
  first.acking = false;
  caller.next("b");
  caller.next("c");
  t.deepEqual(first.received, ["a", "b", "c"]);
  first.fail(Code.UNAVAILABLE);
  caller.next("d"); // sent while no upstream is open
  await clock.until(() => got.values.length === 4, 1000, "4 acks");
  t.deepEqual(up.attempts[1]?.received, ["b", "c", "d"]);
  caller.next("e");
  caller.complete();
  await clock.until(() => got.ended, 1000, "the end");
  t.deepEqual(got.values, ["ack:a", "ack:b", "ack:c", "ack:d", "ack:e"]);
  t.true(got.completed);
  t.is(up.attempts.length, 2);
});

test.serial("when tries run out the caller's stream ends with UNAVAILABLE, the last error in the message", async t => {
  const clock = fakeClock(t);
  const up = fakeUpstream(() => false);
  const caller = new Subject<string>();
  const log = recordingLog();
  const got = collect(chain(reconnectBulk<string, string>({ ...FAST, log }))(up.handler)(caller, ctx("/registry.NetworkServiceRegistry/BulkRegisterNSE")));
  caller.next("a");
  for (let i = 0; i < 3; i++) {
    await clock.until(() => up.attempts.length === i + 1, 1000, `attempt ${i + 1}`);
    up.attempts[i]!.fail(Code.UNAVAILABLE);
  }
  await clock.until(() => got.ended, 1000, "the end");
  t.is(got.error?.code, Code.UNAVAILABLE);
  t.regex(got.error?.message ?? "", /upstream failed 3 time\(s\) in a row, giving up with 1 registration\(s\) unacknowledged: upstream broke \(UNAVAILABLE\)/);
  t.is(up.attempts.length, 3);
  t.deepEqual(up.attempts.map(a => a.received), [["a"], ["a"], ["a"]]);
  t.deepEqual(log.lines.map(l => l.level), ["warn", "warn", "error"]);
  t.false(caller.observed, "the caller's stream is released");
});

test.serial("an acknowledgement resets the count of failures in a row", async t => {
  const clock = fakeClock(t);
  const up = fakeUpstream();
  const caller = new Subject<string>();
  const got = collect(chain(reconnectBulk<string, string>({ delayMs: 5, tries: 2 }))(up.handler)(caller, ctx()));
  for (let i = 0; i < 4; i++) {
    caller.next(`m${i}`);
    await clock.until(() => got.values.length === i + 1, 1000, `ack ${i}`);
    up.attempts[i]!.fail(Code.UNAVAILABLE); // one failure after each ack: never 2 in a row
    await clock.until(() => up.attempts.length === i + 2, 1000, `attempt ${i + 2}`);
  }
  t.is(got.error, undefined);
  caller.complete();
  await clock.until(() => got.completed, 1000, "completion");
});

for (const code of [Code.INVALID_ARGUMENT, Code.ALREADY_EXISTS, Code.PERMISSION_DENIED]) {
  test.serial(`upstream ${Code[code]} ends the stream at once, code kept`, async t => {
    const clock = fakeClock(t);
    const up = fakeUpstream();
    const caller = new Subject<string>();
    const got = collect(chain(reconnectBulk<string, string>(FAST))(up.handler)(caller, ctx()));
    caller.next("a");
    up.attempts[0]!.fail(code);
    t.is(got.error?.code, code);
    await clock.tickAsync(20);
    t.is(up.attempts.length, 1);
  });
}

test.serial("an upstream that ends while the caller still sends is reconnected", async t => {
  const clock = fakeClock(t);
  const up = fakeUpstream(n => n > 0);
  const caller = new Subject<string>();
  const got = collect(chain(reconnectBulk<string, string>(FAST))(up.handler)(caller, ctx()));
  caller.next("a");
  up.attempts[0]!.end();
  await clock.until(() => got.values.length === 1, 1000, "the ack from the second upstream");
  t.deepEqual(up.attempts[1]?.received, ["a"]);
  caller.complete();
  await clock.until(() => got.completed, 1000, "completion");
});

test.serial("a caller that half-closes between upstreams with nothing unacknowledged completes without reconnecting", async t => {
  const clock = fakeClock(t);
  const up = fakeUpstream();
  const caller = new Subject<string>();
  const got = collect(chain(reconnectBulk<string, string>({ delayMs: 50, tries: 3 }))(up.handler)(caller, ctx()));
  caller.next("a");
  up.attempts[0]!.fail(Code.UNAVAILABLE);
  caller.complete();
  t.true(got.completed);
  await clock.tickAsync(80);
  t.is(up.attempts.length, 1);
});

test.serial("unsubscribing cancels the upstream and any pending reconnect", async t => {
  const clock = fakeClock(t);
  const up = fakeUpstream();
  const caller = new Subject<string>();
  const got = collect(chain(reconnectBulk<string, string>({ delayMs: 20, tries: 3 }))(up.handler)(caller, ctx()));
  caller.next("a");
  got.subscription.unsubscribe();
  t.true(up.attempts[0]?.unsubscribed);
  t.false(caller.observed);

  const up2 = fakeUpstream(() => false);
  const caller2 = new Subject<string>();
  const got2 = collect(chain(reconnectBulk<string, string>({ delayMs: 20, tries: 3 }))(up2.handler)(caller2, ctx()));
  caller2.next("a");
  up2.attempts[0]!.fail(Code.UNAVAILABLE);
  got2.subscription.unsubscribe();
  await clock.tickAsync(50);
  t.is(up2.attempts.length, 1, "no reconnect after unsubscribe");
});

test("a caller error ends the stream with it and cancels the upstream", async t => {
  const up = fakeUpstream();
  const caller = new Subject<string>();
  const got = collect(chain(reconnectBulk<string, string>(FAST))(up.handler)(caller, ctx()));
  caller.next("a");
  caller.error(new ProxyError(Code.INVALID_ARGUMENT, "message 2: bad"));
  t.is(got.error?.code, Code.INVALID_ARGUMENT);
  t.true(up.attempts[0]?.unsubscribed);
});
