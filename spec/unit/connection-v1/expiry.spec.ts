/** expiry: the previous segment must carry an expiry; the connection is closed from inside when it passes. */
import test from "ava";
import { firstValueFrom, of, throwError } from "rxjs";
import { chain } from "../../../lib/pipeline/element.js";
import { Code, ProxyError } from "../../../lib/pipeline/errors.js";
import { expiryClose, expiryDelay, expiryRequest } from "../../../lib/planes/connection/v1/expiry.js";
import { type ConnectionEntry, callState, createConnectionTable } from "../../../lib/planes/connection/v1/connection-table.js";
import { updatePathRequest } from "../../../lib/planes/connection/v1/update-path.js";
import type { NetworkServiceRequest } from "../../../generated/nsm/networkservice.js";
import { ctx, errorOf, fwdConnection, fwdRequest, seg } from "./_support.js";
import { fakeClock } from "../../support/clock.js";

function withPrevExpiry(ms: number | undefined): NetworkServiceRequest {
  const base = fwdConnection();
  return fwdRequest({ path: { index: 2, pathSegments: [...base.path!.pathSegments.slice(0, 2), seg("fwd-1", "fwd-1-id", ms)] } });
}

test("expiryDelay: expiry minus the request's timeout, never before halfway", t => {
  t.is(expiryDelay(10 * 60_000, 15_000, 0), 10 * 60_000 - 15_000);
  t.is(expiryDelay(1000, 10_000, 0), 500);
  t.is(expiryDelay(1000, 0, 0), 1000);
  t.is(expiryDelay(1000, 0, 2000), 0, "already past: at once");
});

test("a previous segment without expiry, an expired one, or none at all is INVALID_ARGUMENT", async t => {
  const handler = chain(updatePathRequest("proxy-1"), expiryRequest({ onExpire: () => t.fail() }))(req => of(req.connection!));
  const missing = await errorOf(handler(withPrevExpiry(undefined), ctx()));
  t.is(missing.code, Code.INVALID_ARGUMENT);
  t.regex(missing.message, /expiration for the previous path segment cannot be nil/);
  const expired = await errorOf(handler(withPrevExpiry(-1000), ctx()));
  t.is(expired.code, Code.INVALID_ARGUMENT);
  t.regex(expired.message, /expired at/);
  const first = await errorOf(handler(fwdRequest({ id: "", path: undefined }), ctx()));
  t.regex(first.message, /no segment before this proxy/);
});

test.serial("after a successful Request the timer fires onExpire; a refresh resets it; Close stops it", async t => {
  const clock = fakeClock(t);
  const table = createConnectionTable();
  const entry = table.getOrCreate("p1");
  const expired: ConnectionEntry[] = [];
  const onExpire = (e: ConnectionEntry) => void expired.push(e);
  const request = chain(updatePathRequest("proxy-1", () => "p1"), expiryRequest({ onExpire }))((req: NetworkServiceRequest) => of(req.connection!));
  const withEntry = ctx({}, Date.now() + 10_000).with(callState, { entry });

  await firstValueFrom(request(withPrevExpiry(400), withEntry));
  t.truthy(entry.expiryTimer);
  await clock.tickAsync(30);
  await firstValueFrom(request(withPrevExpiry(1000), withEntry));
  await clock.tickAsync(499);
  t.is(expired.length, 0, "the refresh moved the timer (the first one was due 330 ms ago)");
  await clock.tickAsync(1);
  t.deepEqual(expired, [entry], "fires at half of 1000 ms (the deadline is longer)");

  await firstValueFrom(request(withPrevExpiry(100), withEntry));
  const close = chain(expiryClose<object>())(() => of({}));
  await firstValueFrom(close(fwdConnection(), ctx().with(callState, { entry })));
  t.is(entry.expiryTimer, undefined);
  await clock.tickAsync(150);
  t.is(expired.length, 1, "no firing after Close");
});

test.serial("a failed Request sets no timer", async t => {
  const clock = fakeClock(t);
  const table = createConnectionTable();
  const entry = table.getOrCreate("p1");
  const request = chain(updatePathRequest("proxy-1", () => "p1"), expiryRequest({ onExpire: () => t.fail() }))(() => throwError(() => new ProxyError(Code.UNAVAILABLE, "down")));
  await errorOf(request(withPrevExpiry(50), ctx().with(callState, { entry })));
  t.is(entry.expiryTimer, undefined);
  t.is(clock.countTimers(), 0, "nothing is scheduled that could fire later");
  await clock.tickAsync(80);
});
