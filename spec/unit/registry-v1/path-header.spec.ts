/**
 * Unit tests: path-header answers a Register/Unregister that carried `path` with the path the next hop
 * returned in its header (the SDK's grpcmetadata behaviour), falls back to the caller's own path, and
 * sends nothing for calls without `path` or calls that failed. The next hop is a fake terminal that
 * reports its headers as the client pool does.
 */
import test from "ava";
import { of, retry, throwError } from "rxjs";
import { chain, named, type Handler } from "../../../lib/pipeline/element.js";
import { Code, ProxyError } from "../../../lib/pipeline/errors.js";
import { noteNextHopHeaders, wantsNextHopResponse } from "../../../lib/pipeline/next-hop-response.js";
import { relayPathHeader } from "../../../lib/planes/registry/v1/path-header.js";
import { ctx, errorOf, first } from "./_support.js";

const register = "/registry.NetworkServiceEndpointRegistry/Register";
const callerPath = JSON.stringify({ Index: 1, PathSegments: [{ token: "t0" }, { token: "t1" }] });
const registryPath = JSON.stringify({ Index: 1, PathSegments: [{ token: "t0" }, { token: "t1" }, { token: "registry" }] });

/** A next hop that returns `headers` (a key's values in order) and answers "ok". */
const nextHopReturning =
  (...headers: [string, string][]): Handler<string, string> =>
  (_req, c) => {
    for (const [key, value] of headers) noteNextHopHeaders(c, new Map([[key, value]]));
    return of("ok");
  };

const relay = (terminal: Handler<string, string>) => chain(relayPathHeader<string, string>())(terminal);

test("path-header: the path the next hop returned goes to the caller in the response header", async t => {
  const c = ctx(register, { path: callerPath });
  t.is(await first(relay(nextHopReturning(["path", registryPath]))("nse", c)), "ok");
  t.is(c.response.headers.get("path"), registryPath);
  t.is(c.response.trailers.size, 0);
});

test("path-header: of several `path` values the next hop sent, the last one (as the SDK reads them)", async t => {
  const c = ctx(register, { path: callerPath });
  const older = JSON.stringify({ Index: 0, PathSegments: [{ token: "older" }] });
  await first(relay(nextHopReturning(["path", older], ["path", registryPath]))("nse", c));
  t.is(c.response.headers.get("path"), registryPath);
});

test("path-header: a next hop that returned no path: the caller gets its own path back, as an SDK hop would answer", async t => {
  const c = ctx(register, { path: callerPath });
  await first(relay(nextHopReturning(["x-other", "1"]))("nse", c));
  t.deepEqual(Object.fromEntries(c.response.headers), { path: callerPath });
});

for (const unreadable of ["not json", "[1,2]", '"text"', '{"Index":-1}', '{"Index":"1"}', '{"PathSegments":{"token":"x"}}', '{"PathSegments":[{"token":5}]}']) {
  test(`path-header: a returned path the SDK could not read (${unreadable}) is not relayed; the caller's goes back`, async t => {
    const c = ctx(register, { path: callerPath });
    await first(relay(nextHopReturning(["path", unreadable]))("nse", c));
    t.is(c.response.headers.get("path"), callerPath);
  });
}

test("path-header: a call without `path` gets no header and asks the transport for nothing", async t => {
  const c = ctx(register);
  let wanted: boolean | undefined;
  await first(relay((_req, inner) => ((wanted = wantsNextHopResponse(inner)), nextHopReturning(["path", registryPath])(_req, inner)))("nse", c));
  t.false(wanted);
  t.is(c.response.headers.size, 0);
});

test("path-header: a failed call gets no path header", async t => {
  const c = ctx(register, { path: callerPath });
  const failing: Handler<string, string> = (_req, inner) => {
    noteNextHopHeaders(inner, new Map([["path", registryPath]]));
    return throwError(() => new ProxyError(Code.PERMISSION_DENIED, "no"));
  };
  t.is((await errorOf(relay(failing)("nse", c))).code, Code.PERMISSION_DENIED);
  t.is(c.response.headers.size, 0);
});

test("path-header: retried below it, only the attempt that answered counts", async t => {
  const c = ctx(register, { path: callerPath });
  let attempt = 0;
  const flaky: Handler<string, string> = (_req, inner) => {
    attempt++;
    if (attempt === 1) {
      noteNextHopHeaders(inner, new Map([["path", registryPath]]));
      return throwError(() => new ProxyError(Code.UNAVAILABLE, "restarting"));
    }
    return of("ok");
  };
  // The retry is outside the element: each attempt subscribes afresh, with a fresh slot.
  const retried = named<string, string>("retry", next => (req, inner) => next(req, inner).pipe(retry(1)));
  t.is(await first(chain(retried, relayPathHeader<string, string>())(flaky)("nse", c)), "ok");
  t.is(c.response.headers.get("path"), callerPath, "the first attempt's path is not what the second returned");
});
