/** close-if-failed / note-accepted: what the next hop accepted is closed when the caller does not get it. */
import test from "ava";
import { NEVER, type Observable, Subject, concatMap, firstValueFrom, lastValueFrom, of, throwError } from "rxjs";
import { createCallContext } from "../../../lib/pipeline/context.js";
import { type Element, chain, named } from "../../../lib/pipeline/element.js";
import { closeIfFailed, noteAccepted } from "../../../lib/pipeline/close-if-failed.js";

const ctx = () => createCallContext({ method: "/test/Request" });
type Answer = { id: string };

/** An element standing for what happens on the way back after the next hop answered. */
const onTheWayBack = (after: (answer: Answer) => Observable<Answer>): Element<string, Answer> =>
  named("back", next => (req, c) => next(req, c).pipe(concatMap(after)));

function build(after: (answer: Answer) => Observable<Answer>, terminal: (req: string) => Observable<Answer> = req => of({ id: `conn-${req}` })) {
  const closed: Answer[] = [];
  const handler = chain<string, Answer>(closeIfFailed(answer => closed.push(answer)), onTheWayBack(after), noteAccepted())(terminal);
  return { handler, closed };
}

test("an answer the caller gets is not closed", async t => {
  const { handler, closed } = build(answer => of(answer));
  t.deepEqual(await firstValueFrom(handler("a", ctx())), { id: "conn-a" });
  t.deepEqual(closed, []);
});

test("an error after the next hop accepted closes what it accepted", async t => {
  const { handler, closed } = build(() => throwError(() => new Error("record not written")));
  await t.throwsAsync(lastValueFrom(handler("b", ctx())), { message: "record not written" });
  t.deepEqual(closed, [{ id: "conn-b" }]);
});

test("a caller that leaves after the next hop accepted: closed; before it accepted: nothing to close", async t => {
  const late = build(() => NEVER);
  late.handler("c", ctx()).subscribe().unsubscribe();
  t.deepEqual(late.closed, [{ id: "conn-c" }]);

  const pending = new Subject<Answer>();
  const early = build(answer => of(answer), () => pending);
  early.handler("d", ctx()).subscribe().unsubscribe();
  pending.next({ id: "conn-d" });
  t.deepEqual(early.closed, []);
});

test("an error from the next hop itself closes nothing", async t => {
  const { handler, closed } = build(answer => of(answer), () => throwError(() => new Error("refused")));
  await t.throwsAsync(lastValueFrom(handler("e", ctx())));
  t.deepEqual(closed, []);
});
