import test from "ava";
import { Subject, firstValueFrom, lastValueFrom, of, toArray, type Observable } from "rxjs";
import { chain, type Handler } from "../../../lib/pipeline/element.js";
import { Code, ProxyError, invalidArgument } from "../../../lib/pipeline/errors.js";
import { rewriteEachMessage, rewriteRequest } from "../../../lib/planes/registry/rewrite-request.js";
import { ctx, errorOf } from "./_support.js";

const upper = (s: string) => {
  if (s === "bad") throw invalidArgument("bad message");
  return s.toUpperCase();
};

test("a unary request is rewritten before the next element sees it", async t => {
  const handler = chain(rewriteRequest<string, string>("upper", upper))(req => of(req));
  t.is(await firstValueFrom(handler("abc", ctx())), "ABC");
  t.is((await errorOf(handler("bad", ctx()))).code, Code.INVALID_ARGUMENT);
});

test("each streamed message is rewritten", async t => {
  const echo: Handler<Observable<string>, string> = requests => requests;
  const handler = chain(rewriteEachMessage<string, string>("upper", upper))(echo);
  t.deepEqual(await lastValueFrom(handler(of("a", "b"), ctx()).pipe(toArray())), ["A", "B"]);
});

test("a bad streamed message fails the stream with its code and position", async t => {
  const echo: Handler<Observable<string>, string> = requests => requests;
  const requests = new Subject<string>();
  const result = lastValueFrom(chain(rewriteEachMessage<string, string>("upper", upper))(echo)(requests, ctx()).pipe(toArray())).then(
    () => undefined,
    (e: unknown) => e as ProxyError,
  );
  requests.next("a");
  requests.next("bad");
  const error = await result;
  t.is(error?.code, Code.INVALID_ARGUMENT);
  t.is(error?.message, "message 2: bad message");
});
