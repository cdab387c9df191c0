import test from "ava";
import { firstValueFrom, of } from "rxjs";
import { chain } from "../../../lib/pipeline/element.js";
import { Code } from "../../../lib/pipeline/errors.js";
import { checkRemoveRequest } from "../../../lib/planes/registry/check-remove-request.js";
import { ctx, errorOf } from "./_support.js";

const handler = chain(checkRemoveRequest())(() => of({}));

test("a named endpoint passes", async t => {
  t.deepEqual(await firstValueFrom(handler({ networkServiceEndpointName: "nse-1" }, ctx())), {});
});

test("no endpoint name is INVALID_ARGUMENT", async t => {
  const error = await errorOf(handler({ networkServiceEndpointName: "" }, ctx()));
  t.is(error.code, Code.INVALID_ARGUMENT);
  t.regex(error.message, /network_service_endpoint_name is empty/);
});
