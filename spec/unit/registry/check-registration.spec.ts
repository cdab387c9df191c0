import test from "ava";
import { firstValueFrom, lastValueFrom, of, toArray, type Observable } from "rxjs";
import { chain, type Handler } from "../../../lib/pipeline/element.js";
import { Code } from "../../../lib/pipeline/errors.js";
import { checkBulkRegistration, checkRegistration } from "../../../lib/planes/registry/check-registration.js";
import { NSERegistration } from "../../../generated/seed/registry.js";
import { ctx, errorOf, registration } from "./_support.js";

const good = registration({ name: "node-1", url: "10.0.0.1:5001" });
const unary = chain(checkRegistration<NSERegistration>())(req => of(req));

test("a complete registration passes unchanged", async t => {
  t.is(await firstValueFrom(unary(good, ctx())), good);
});

const bad: [string, NSERegistration, RegExp][] = [
  ["no NSMgr", NSERegistration.fromPartial({ networkServiceEndpoint: { name: "nse" } }), /has no network_service_manager/],
  ["no NSMgr url", NSERegistration.fromPartial({ networkServiceManager: { name: "n" }, networkServiceEndpoint: { name: "nse" } }), /"n" has no url/],
  ["a url without port", NSERegistration.fromPartial({ networkServiceManager: { name: "n", url: "10.0.0.1" }, networkServiceEndpoint: { name: "nse" } }), /url "10\.0\.0\.1" is not host:port/],
  ["a url without host", NSERegistration.fromPartial({ networkServiceManager: { name: "n", url: ":5001" }, networkServiceEndpoint: { name: "nse" } }), /has no host/],
  ["no endpoint", NSERegistration.fromPartial({ networkServiceManager: { name: "n", url: "10.0.0.1:5001" } }), /has no network_service_endpoint/],
  ["an unnamed endpoint", NSERegistration.fromPartial({ networkServiceManager: { name: "n", url: "10.0.0.1:5001" }, networkServiceEndpoint: {} }), /network_service_endpoint\.name is empty/],
];

for (const [what, reg, message] of bad) {
  test(`${what} is INVALID_ARGUMENT`, async t => {
    const error = await errorOf(unary(reg, ctx()));
    t.is(error.code, Code.INVALID_ARGUMENT);
    t.regex(error.message, message);
  });
}

test("in a stream, every message is checked; a bad one fails the stream", async t => {
  const echo: Handler<Observable<NSERegistration>, NSERegistration> = requests => requests;
  const bulk = chain(checkBulkRegistration<NSERegistration>())(echo);
  t.deepEqual(await lastValueFrom(bulk(of(good, good), ctx()).pipe(toArray())), [good, good]);
  const error = await errorOf(bulk(of(bad[0]![1]), ctx()));
  const second = await lastValueFrom(bulk(of(good, bad[0]![1]), ctx())).then(
    () => undefined,
    (e: unknown) => e as { code: Code; message: string },
  );
  t.is(second?.code, Code.INVALID_ARGUMENT);
  t.regex(second?.message ?? "", /^message 2: /);
  t.regex(error.message, /^message 1: NSERegistration has no network_service_manager/);
});
