/**
 * Unit tests: the call context's response headers and trailers (one per call, shared by derived
 * contexts) and the slots elements open for the next hop's (receiveNextHopResponse), filled by fake
 * terminals the way the client pool fills them (headers before the first value, trailers before the end).
 */
import test from "ava";
import { defer, firstValueFrom, lastValueFrom, map, of, retry, throwError, toArray } from "rxjs";
import { contextKey, createCallContext, type CallContext } from "../../../lib/pipeline/context.js";
import { chain, named, type Element, type Handler } from "../../../lib/pipeline/element.js";
import { Code, ProxyError } from "../../../lib/pipeline/errors.js";
import { noteNextHopHeaders, noteNextHopTrailers, receiveNextHopResponse, wantsNextHopResponse } from "../../../lib/pipeline/next-hop-response.js";

const ctx = () => createCallContext({ method: "/test.Service/Call" });

/** Answers each value with what it had received so far: "value headers=… trailers=…". */
function reporting(): Element<string, string> {
  return named("reporting", next => (req, c) =>
    receiveNextHopResponse(next, req, c, (responses, received) =>
      responses.pipe(map(v => `${v} headers=${JSON.stringify(Object.fromEntries(received.headers))} trailers=${JSON.stringify(Object.fromEntries(received.trailers))}`)),
    ),
  );
}

test("the response metadata is one per call: contexts derived with `with` and withDeadline share it, another call has its own", t => {
  const a = ctx();
  const derived = a.with(contextKey<string>("k"), "v").withDeadline(Date.now() + 1000);
  derived.response.headers.set("x-a", "1");
  derived.response.trailers.set("x-t", "2");
  t.deepEqual(Object.fromEntries(a.response.headers), { "x-a": "1" });
  t.deepEqual(Object.fromEntries(a.response.trailers), { "x-t": "2" });
  const b = ctx();
  t.is(b.response.headers.size, 0);
  t.is(b.response.trailers.size, 0);
});

test("what the transport notes of the next hop (headers, trailers) reaches the asking element, and the terminal sees it is wanted", async t => {
  let seenByTerminal: CallContext | undefined;
  const terminal: Handler<string, string> = (_req, c) => {
    seenByTerminal = c;
    noteNextHopHeaders(c, new Map([["x-hop", "h1"]]));
    return defer(() => {
      const out = of("one");
      noteNextHopTrailers(c, new Map([["x-end", "t1"]]));
      return out;
    });
  };
  t.deepEqual(await lastValueFrom(chain(reporting())(terminal)("r", ctx()).pipe(toArray())), ['one headers={"x-hop":"h1"} trailers={"x-end":"t1"}']);
  t.true(wantsNextHopResponse(seenByTerminal!));
});

test("without an element asking, the transport has nowhere to write and nothing is kept", async t => {
  let wanted: boolean | undefined;
  const c = ctx();
  const terminal: Handler<string, string> = (_req, inner) => {
    wanted = wantsNextHopResponse(inner);
    noteNextHopHeaders(inner, new Map([["x-hop", "h1"]]));
    noteNextHopTrailers(inner, new Map([["x-end", "t1"]]));
    return of("v");
  };
  t.is(await firstValueFrom(chain<string, string>()(terminal)("r", c)), "v");
  t.false(wanted);
  t.is(c.response.headers.size, 0, "the next hop's headers are not this hop's answer");
  t.is(c.response.trailers.size, 0);
});

test("nested slots: an inner element's slot does not hide the next hop from an outer one", async t => {
  const seen: string[] = [];
  const watching = (name: string) =>
    named<string, string>(name, next => (req, c) =>
      receiveNextHopResponse(next, req, c, (responses, received) => responses.pipe(map(v => (seen.push(`${name}:${received.headers.get("x-hop")}`), v)))),
    );
  const terminal: Handler<string, string> = (_req, c) => (noteNextHopHeaders(c, new Map([["x-hop", "h"]])), of("v"));
  await firstValueFrom(chain(watching("outer"), watching("inner"))(terminal)("r", ctx()));
  t.deepEqual(seen, ["inner:h", "outer:h"]);
});

test("a later value of a key wins, and each subscription (a retry) starts with an empty slot", async t => {
  let attempt = 0;
  const terminal: Handler<string, string> = (_req, c) =>
    defer(() => {
      attempt++;
      if (attempt === 1) {
        noteNextHopHeaders(c, new Map([["x-first-try", "yes"]]));
        return throwError(() => new ProxyError(Code.UNAVAILABLE, "try again"));
      }
      noteNextHopHeaders(c, new Map([["x-hop", "old"]]));
      noteNextHopHeaders(c, new Map([["x-hop", "new"]]));
      return of("v");
    });
  const withRetry = named<string, string>("retry", next => (req, c) => next(req, c).pipe(retry(1)));
  const out = await firstValueFrom(chain(withRetry, reporting())(terminal)("r", ctx()));
  t.is(out, 'v headers={"x-hop":"new"} trailers={}');
});
