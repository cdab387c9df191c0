import test from "ava";
import { firstValueFrom, of } from "rxjs";
import { chain } from "../../../lib/pipeline/element.js";
import { interdomainServiceName } from "../../../lib/planes/registry/interdomain-service-name.js";
import type { FindNetworkServiceRequest } from "../../../generated/seed/registry.js";
import { ctx, findResponse, frozen } from "./_support.js";

test("the domain is stripped on the way out and the answer names the service as asked", async t => {
  const sent: FindNetworkServiceRequest[] = [];
  const answer = findResponse({ payload: "IP", networkService: { name: "icmp", payload: "IP" } });
  const handler = chain(interdomainServiceName())(req => {
    sent.push(req);
    return of(answer);
  });
  const req = frozen({ networkServiceName: "icmp@192.0.2.1:5005" });
  const res = await firstValueFrom(handler(req, ctx()));
  t.deepEqual(sent, [{ networkServiceName: "icmp" }]);
  t.is(res.networkService?.name, "icmp@192.0.2.1:5005");
  t.is(res.networkService?.payload, "IP");
  t.is(answer.networkService?.name, "icmp", "the upstream answer is not edited");
});

test("an answer without a network_service stays without one", async t => {
  const handler = chain(interdomainServiceName())(() => of(findResponse({ payload: "x" })));
  const res = await firstValueFrom(handler({ networkServiceName: "icmp@d" }, ctx()));
  t.is(res.networkService, undefined);
});
