/** Unit tests: the name grammar of v1 entries, NSM urls, check-request, interdomain-branch and the name-suffix elements. */
import test from "ava";
import { from, of } from "rxjs";
import { chain, type Handler } from "../../../lib/pipeline/element.js";
import { Code } from "../../../lib/pipeline/errors.js";
import { domainOfNse, stripNse, suffixNse } from "../../../lib/planes/registry/v1/interdomain-names.js";
import { dialAddressOf, nsmUrl, urlHost, withUrlHost } from "../../../lib/domains/nsm-url.js";
import { checkNseQuery, checkNseRegistration, checkNsQuery, checkNsRegistration } from "../../../lib/planes/registry/v1/check-request.js";
import { interdomainBranch, remoteDomain } from "../../../lib/planes/registry/v1/interdomain-branch.js";
import { nsNameSuffix, nsQueryNameSuffix, nsUnregisterNameSuffix } from "../../../lib/planes/registry/v1/ns-name-suffix.js";
import { nseNameSuffix, nseQueryNameSuffix, nseUnregisterNameSuffix } from "../../../lib/planes/registry/v1/nse-name-suffix.js";
import {
  NetworkService,
  type NetworkServiceEndpoint,
  type NetworkServiceEndpointQuery,
  type NetworkServiceEndpointResponse,
  type NetworkServiceQuery,
  type NetworkServiceResponse,
} from "../../../generated/nsm/registry.js";
import type { Empty } from "../../../generated/nsm/google/protobuf/empty.js";
import { all, ctx, errorOf, first, nse } from "./_support.js";
import { frozen } from "../../support/values.js";

const ns = (name: string) => frozen(NetworkService.fromPartial({ name, payload: "ETHERNET" }));

// interdomain-names ----------------------------------------------------------------------------------
test("domainOfNse: the name first, else any network service name; none for plain entries", t => {
  t.is(domainOfNse(nse({ name: "nse@d2", networkServiceNames: ["ns"] })), "d2");
  t.is(domainOfNse(nse({ name: "", networkServiceNames: ["a", "ns@d3"] })), "d3");
  t.is(domainOfNse(nse({ name: "nse", networkServiceNames: ["ns"] })), undefined);
});

test("domainOfNse: two different domains, or a malformed name, are INVALID_ARGUMENT", t => {
  t.is(t.throws(() => domainOfNse(nse({ name: "nse@d2", networkServiceNames: ["ns@d3"] })))?.message.includes('"d2" and "d3"'), true);
  t.is((t.throws(() => domainOfNse(nse({ name: "nse@" }))) as { code?: Code }).code, Code.INVALID_ARGUMENT);
});

test("stripNse / suffixNse: name, service names and label keys; other fields and the input untouched", t => {
  const original = nse({
    name: "nse@d2",
    networkServiceNames: ["ns@d2", "other@d2"],
    networkServiceLabels: { "ns@d2": { labels: { app: "x" } } },
    url: "tcp://10.0.0.1:5001",
    expirationTime: { seconds: "1700000000", nanos: 5 },
    pathIds: ["a", "b"],
  });
  const stripped = stripNse(original);
  t.deepEqual(stripped, { ...original, name: "nse", networkServiceNames: ["ns", "other"], networkServiceLabels: { ns: { labels: { app: "x" } } } });
  t.deepEqual(suffixNse(stripped, "d2"), original);
  t.is(suffixNse(nse({ name: "" }), "d2").name, "", "an empty name stays empty");
});

// nsm-url --------------------------------------------------------------------------------------------
test("nsm urls: dial address, host, host replacement (IPv6 bracketed)", t => {
  t.is(dialAddressOf("tcp://10.0.0.1:5001"), "10.0.0.1:5001");
  t.is(dialAddressOf("127.0.0.1:5002"), "127.0.0.1:5002");
  t.is(nsmUrl("[::1]:5004"), "tcp://[::1]:5004");
  t.is(urlHost("tcp://[2001:db8::1]:5001"), "2001:db8::1");
  t.is(urlHost("tcp://10.0.0.1:5001"), "10.0.0.1");
  t.is(urlHost("not a url"), undefined);
  t.is(withUrlHost("tcp://10.0.0.1:5001", "2001:db8::9"), "tcp://[2001:db8::9]:5001");
  t.is(urlHost("unix:///var/lib/networkservicemesh/nsm.io.sock"), undefined, "a host-less url has no host to swap");
});

// check-request --------------------------------------------------------------------------------------
{
  const nsCheck = chain(checkNsRegistration<NetworkService>())(req => of(req));
  const nsQuery = chain(checkNsQuery())(() => of<NetworkServiceResponse>({ deleted: false }));
  const nseCheck = chain(checkNseRegistration<Empty>())(() => of({}));
  const nseQuery = chain(checkNseQuery())(() => of<NetworkServiceEndpointResponse>({ deleted: false }));

  test("check-request: well-formed calls pass, empty query names included", async t => {
    t.is((await first(nsCheck(ns("ns@d2"), ctx()))).name, "ns@d2");
    t.deepEqual(await first(nsQuery({ networkService: ns(""), watch: false }, ctx())), { deleted: false });
    t.deepEqual(await first(nseCheck(nse({ name: "nse" }), ctx())), {});
    t.deepEqual(await first(nseQuery({ networkServiceEndpoint: nse({}), watch: true }, ctx())), { deleted: false });
  });

  const bad: [string, () => ReturnType<Handler<never, unknown>>, RegExp][] = [
    ["NS without a name", () => nsCheck(ns(" "), ctx()), /network service name is empty/],
    ["NS named ns@", () => nsCheck(ns("ns@"), ctx()), /nothing after "@"/],
    ["NS query without network_service", () => nsQuery({ watch: false } as NetworkServiceQuery, ctx()), /no network_service/],
    ["NS query for @d2", () => nsQuery({ networkService: ns("@d2"), watch: false }, ctx()), /nothing before "@"/],
    ["NSE without a name", () => nseCheck(nse({ networkServiceNames: ["ns@d2"] }), ctx()), /endpoint name is empty/],
    ["NSE query without network_service_endpoint", () => nseQuery({ watch: false } as NetworkServiceEndpointQuery, ctx()), /no network_service_endpoint/],
    ["NSE query naming two domains", () => nseQuery({ networkServiceEndpoint: nse({ name: "a@x", networkServiceNames: ["b@y"] }), watch: false }, ctx()), /two domains/],
  ];
  for (const [what, call, message] of bad) {
    test(`check-request: ${what} is INVALID_ARGUMENT`, async t => {
      const error = await errorOf(call());
      t.is(error.code, Code.INVALID_ARGUMENT);
      t.regex(error.message, message);
    });
  }
}

// interdomain-branch ---------------------------------------------------------------------------------
test("interdomain-branch: @domain goes to the interdomain handler with the domain in the context; plain goes on", async t => {
  const handler = chain(
    interdomainBranch<NetworkService, string>(
      req => (req.name.includes("@") ? req.name.split("@")[1] : undefined),
      (_req, c) => of(`remote:${c.require(remoteDomain)}`),
    ),
  )((_req, c) => of(`local:${c.get(remoteDomain) ?? "-"}`));
  t.is(await first(handler(ns("ns@cluster2"), ctx())), "remote:cluster2");
  t.is(await first(handler(ns("ns"), ctx())), "local:-");
});

// name-suffix elements -------------------------------------------------------------------------------
const inDomain = (domain = "d2") => ctx().with(remoteDomain, domain);

test("ns-name-suffix: Register goes out stripped and answers re-suffixed", async t => {
  const seen: NetworkService[] = [];
  const handler = chain(nsNameSuffix())(req => (seen.push(req), of({ ...req, payload: "IP" })));
  t.deepEqual(await first(handler(ns("ns@d2"), inDomain())), { ...ns("ns@d2"), payload: "IP" });
  t.is(seen[0]?.name, "ns");
});

test("ns-name-suffix: Unregister goes out stripped", async t => {
  const seen: NetworkService[] = [];
  await first(chain(nsUnregisterNameSuffix())(req => (seen.push(req), of({})))(ns("ns@d2"), inDomain()));
  t.is(seen[0]?.name, "ns");
});

test("ns-name-suffix: every Find response, deleted ones too, is re-suffixed", async t => {
  const seen: NetworkServiceQuery[] = [];
  const handler = chain(nsQueryNameSuffix())(req => {
    seen.push(req);
    const responses: NetworkServiceResponse[] = [{ networkService: ns("ns"), deleted: false }, { networkService: ns("ns"), deleted: true }, { deleted: false }];
    return from(responses);
  });
  const out = await all(handler(frozen({ networkService: ns("ns@d2"), watch: true }), inDomain()));
  t.is(seen[0]?.networkService?.name, "ns");
  t.deepEqual(
    out.map(r => [r.networkService?.name, r.deleted]),
    [["ns@d2", false], ["ns@d2", true], [undefined, false]],
  );
});

test("nse-name-suffix: Register and Unregister strip; the answer is re-suffixed", async t => {
  const seen: NetworkServiceEndpoint[] = [];
  const registered = nse({ name: "pod@floating.example", networkServiceNames: ["ns@floating.example"], networkServiceLabels: { "ns@floating.example": { labels: { a: "1" } } } });
  const answer = await first(chain(nseNameSuffix())(req => (seen.push(req), of(req)))(registered, inDomain("floating.example")));
  t.deepEqual(answer, registered);
  t.deepEqual([seen[0]?.name, seen[0]?.networkServiceNames, Object.keys(seen[0]?.networkServiceLabels ?? {})], ["pod", ["ns"], ["ns"]]);
  await first(chain(nseUnregisterNameSuffix())(req => (seen.push(req), of({})))(registered, inDomain("floating.example")));
  t.is(seen[1]?.name, "pod");
});

test("nse-name-suffix: Find query stripped, each response re-suffixed", async t => {
  const seen: NetworkServiceEndpointQuery[] = [];
  const handler = chain(nseQueryNameSuffix())(req => {
    seen.push(req);
    return of<NetworkServiceEndpointResponse>({ networkServiceEndpoint: nse({ name: "nse-1", networkServiceNames: ["ns"] }), deleted: true });
  });
  const out = await all(handler(frozen({ networkServiceEndpoint: nse({ networkServiceNames: ["ns@d2"] }), watch: false }), inDomain()));
  t.deepEqual(seen[0]?.networkServiceEndpoint?.networkServiceNames, ["ns"]);
  t.is(out[0]?.networkServiceEndpoint?.name, "nse-1@d2");
  t.deepEqual(out[0]?.networkServiceEndpoint?.networkServiceNames, ["ns@d2"]);
  t.true(out[0]?.deleted);
});
