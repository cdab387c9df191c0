import test from "ava";
import { firstValueFrom, of } from "rxjs";
import { chain } from "../../../lib/pipeline/element.js";
import { Code } from "../../../lib/pipeline/errors.js";
import { checkFindRequest } from "../../../lib/planes/registry/check-find-request.js";
import { FindNetworkServiceResponse } from "../../../generated/seed/registry.js";
import { ctx, errorOf } from "./_support.js";

const answer = FindNetworkServiceResponse.fromPartial({ payload: "ok" });
const handler = chain(checkFindRequest())(() => of(answer));

test("a named service passes through", async t => {
  t.is(await firstValueFrom(handler({ networkServiceName: "icmp" }, ctx())), answer);
});

for (const name of ["", "   "]) {
  test(`an empty name (${JSON.stringify(name)}) is INVALID_ARGUMENT`, async t => {
    const error = await errorOf(handler({ networkServiceName: name }, ctx()));
    t.is(error.code, Code.INVALID_ARGUMENT);
    t.regex(error.message, /network_service_name is empty/);
  });
}
