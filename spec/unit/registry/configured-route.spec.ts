import test from "ava";
import { firstValueFrom, of } from "rxjs";
import { chain } from "../../../lib/pipeline/element.js";
import { Code } from "../../../lib/pipeline/errors.js";
import { nextHop } from "../../../lib/pipeline/forward.js";
import { configuredRoute } from "../../../lib/planes/registry/configured-route.js";
import { ctx, errorOf } from "./_support.js";

test("the configured address is the next hop", async t => {
  const handler = chain(configuredRoute<string, string>("10.1.1.1:5010", "NSMRS_ADDRESS", "NSMRS"))((req, c) => of(`${req}->${c.require(nextHop)}`));
  t.is(await firstValueFrom(handler("r", ctx())), "r->10.1.1.1:5010");
});

for (const address of [undefined, ""]) {
  test(`an unset address (${JSON.stringify(address)}) is UNAVAILABLE naming the variable, nothing dialled`, async t => {
    let called = false;
    const handler = chain(configuredRoute<string, string>(address, "NSMRS_ADDRESS", "floating registry (NSMRS)"))(() => {
      called = true;
      return of("x");
    });
    const error = await errorOf(handler("r", ctx("/registry.NetworkServiceRegistry/RegisterNSE")));
    t.is(error.code, Code.UNAVAILABLE);
    t.is(error.message, "/registry.NetworkServiceRegistry/RegisterNSE: no floating registry (NSMRS) is configured (set NSMRS_ADDRESS)");
    t.false(called);
  });
}
