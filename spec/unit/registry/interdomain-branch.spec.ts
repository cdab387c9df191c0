import test from "ava";
import { firstValueFrom, of } from "rxjs";
import { chain } from "../../../lib/pipeline/element.js";
import { interdomainBranch } from "../../../lib/planes/registry/interdomain-branch.js";
import { FindNetworkServiceResponse } from "../../../generated/seed/registry.js";
import { ctx } from "./_support.js";

const tagged = (payload: string) => FindNetworkServiceResponse.fromPartial({ payload });
const handler = chain(interdomainBranch(req => of(tagged(`remote:${req.networkServiceName}`))))(req => of(tagged(`local:${req.networkServiceName}`)));

test("service@domain goes to the interdomain handler", async t => {
  t.is((await firstValueFrom(handler({ networkServiceName: "icmp@example.org" }, ctx()))).payload, "remote:icmp@example.org");
});

test("a plain name goes on to the local chain", async t => {
  t.is((await firstValueFrom(handler({ networkServiceName: "icmp" }, ctx()))).payload, "local:icmp");
});
