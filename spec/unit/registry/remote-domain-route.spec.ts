import test from "ava";
import { firstValueFrom, of, throwError } from "rxjs";
import { chain, type Handler } from "../../../lib/pipeline/element.js";
import { Code, ProxyError } from "../../../lib/pipeline/errors.js";
import { nextHop } from "../../../lib/pipeline/forward.js";
import { createDomainResolver, type Lookup } from "../../../lib/domains/resolve.js";
import { remoteDomainRoute } from "../../../lib/planes/registry/remote-domain-route.js";
import { type FindNetworkServiceRequest, FindNetworkServiceResponse } from "../../../generated/seed/registry.js";
import { ctx, errorOf } from "./_support.js";

const seen: { req: FindNetworkServiceRequest; hop: string }[] = [];
const terminal: Handler<FindNetworkServiceRequest, FindNetworkServiceResponse> = (req, c) => {
  seen.push({ req, hop: c.require(nextHop) });
  return of(FindNetworkServiceResponse.fromPartial({ payload: c.require(nextHop) }));
};
const lookups: string[] = [];
const lookup: Lookup = async name => {
  lookups.push(name);
  if (name === "remote.example") return "192.0.2.7";
  if (name === "flaky.example") throw Object.assign(new Error("timeout"), { code: "ETIMEOUT" });
  throw Object.assign(new Error("no such name"), { code: "ENOTFOUND" });
};
const route = (next = terminal) => chain(remoteDomainRoute(createDomainResolver(lookup), 80))(next);
const hopFor = async (name: string) => (await firstValueFrom(route()({ networkServiceName: name }, ctx()))).payload;

test.serial("an IP literal domain is dialled on the remote port, the request passed on unchanged", async t => {
  seen.length = 0;
  t.is(await hopFor("icmp@192.0.2.1"), "192.0.2.1:80");
  t.deepEqual(seen[0]?.req, { networkServiceName: "icmp@192.0.2.1" });
});

test("a host:port domain names its own port", async t => {
  t.is(await hopFor("icmp@127.0.0.1:5010"), "127.0.0.1:5010");
});

test("an IPv6 domain is bracketed", async t => {
  t.is(await hopFor("icmp@2001:db8::1"), "[2001:db8::1]:80");
  t.is(await hopFor("icmp@[2001:db8::1]:5005"), "[2001:db8::1]:5005");
});

test("a DNS name is looked up, the first address dialled", async t => {
  t.is(await hopFor("icmp@remote.example"), "192.0.2.7:80");
  t.true(lookups.includes("remote.example"));
});

test("a name that does not resolve is NOT_FOUND, naming the domain", async t => {
  const error = await errorOf(route()({ networkServiceName: "icmp@nowhere.example" }, ctx()));
  t.is(error.code, Code.NOT_FOUND);
  t.regex(error.message, /nowhere\.example/);
});

test("resolver trouble is UNAVAILABLE", async t => {
  t.is((await errorOf(route()({ networkServiceName: "icmp@flaky.example" }, ctx()))).code, Code.UNAVAILABLE);
});

for (const name of ["@192.0.2.1", "icmp@", "icmp@not a host"]) {
  test(`a malformed name ${JSON.stringify(name)} is INVALID_ARGUMENT`, async t => {
    t.is((await errorOf(route()({ networkServiceName: name }, ctx()))).code, Code.INVALID_ARGUMENT);
  });
}

test("an error from the domain keeps its code and gains the name asked for", async t => {
  const failing = route(() => throwError(() => new ProxyError(Code.PERMISSION_DENIED, "next hop 192.0.2.1:80: go away")));
  const error = await errorOf(failing({ networkServiceName: "icmp@192.0.2.1" }, ctx()));
  t.is(error.code, Code.PERMISSION_DENIED);
  t.is(error.message, 'FindNetworkService "icmp@192.0.2.1": next hop 192.0.2.1:80: go away');
});
