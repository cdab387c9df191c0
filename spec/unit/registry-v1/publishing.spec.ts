/** Unit tests: swap-ip, cluster-info-labels and interdomain-bypass, each with a fake terminal and an in-memory route store. */
import test from "ava";
import { Subject, of, throwError } from "rxjs";
import { chain } from "../../../lib/pipeline/element.js";
import { Code, ProxyError } from "../../../lib/pipeline/errors.js";
import { createIpMap } from "../../../lib/nodes/ip-map.js";
import { createMemoryRouteStore } from "../../../lib/state/memory/records.js";
import type { RouteStore } from "../../../lib/state/route-store.js";
import { swapIpFind, swapIpRegister, swapIpUnregister, swapUrl } from "../../../lib/planes/registry/v1/swap-ip-url.js";
import { clusterInfoLabels } from "../../../lib/planes/registry/v1/cluster-info-labels.js";
import { interdomainBypassFind, interdomainBypassRegister, interdomainBypassUnregister } from "../../../lib/planes/registry/v1/interdomain-bypass.js";
import type { NetworkServiceEndpoint, NetworkServiceEndpointQuery, NetworkServiceEndpointResponse } from "../../../generated/nsm/registry.js";
import { all, ctx, errorOf, first, nse } from "./_support.js";
import { frozen } from "../../support/values.js";

const ipMap = createIpMap([
  ["10.0.0.2", "203.0.113.2"],
  ["fd00::2", "2001:db8::2"],
]);
const query: NetworkServiceEndpointQuery = frozen({ networkServiceEndpoint: nse({ name: "nse@d2" }), watch: true });

// swap-ip --------------------------------------------------------------------------------------------
test("swapUrl: a mapped host is replaced, the port kept; unmapped hosts and odd urls are left alone", t => {
  t.is(swapUrl("tcp://10.0.0.2:5004", ipMap), "tcp://203.0.113.2:5004");
  t.is(swapUrl("tcp://[fd00::2]:5004", ipMap), "tcp://[2001:db8::2]:5004");
  t.is(swapUrl("tcp://10.0.0.3:5004", ipMap), "tcp://10.0.0.3:5004");
  t.is(swapUrl("", ipMap), "");
  t.is(swapUrl("garbage", ipMap), "garbage");
});

test("swap-ip: Register maps the outgoing url and the answer's", async t => {
  const seen: NetworkServiceEndpoint[] = [];
  const answer = await first(chain(swapIpRegister(ipMap))(req => (seen.push(req), of({ ...req, url: "tcp://10.0.0.2:9" })))(nse({ name: "p", url: "tcp://10.0.0.2:5004" }), ctx()));
  t.is(seen[0]?.url, "tcp://203.0.113.2:5004");
  t.is(answer.url, "tcp://203.0.113.2:9");
});

test("swap-ip: Unregister maps the outgoing url; Find maps each response", async t => {
  const seen: NetworkServiceEndpoint[] = [];
  await first(chain(swapIpUnregister(ipMap))(req => (seen.push(req), of({})))(nse({ name: "p", url: "tcp://10.0.0.2:5004" }), ctx()));
  t.is(seen[0]?.url, "tcp://203.0.113.2:5004");
  const found = await all(
    chain(swapIpFind(ipMap))(() => of<NetworkServiceEndpointResponse>({ networkServiceEndpoint: nse({ url: "tcp://10.0.0.2:1" }), deleted: true }))(query, ctx()),
  );
  t.deepEqual([found[0]?.networkServiceEndpoint?.url, found[0]?.deleted], ["tcp://203.0.113.2:1", true]);
});

// cluster-info-labels --------------------------------------------------------------------------------
test("cluster-info-labels: merged into every label entry, overriding same keys; none added where there are no entries", async t => {
  const seen: NetworkServiceEndpoint[] = [];
  const handler = chain(clusterInfoLabels({ clusterName: "cluster-2" }))(req => (seen.push(req), of(req)));
  await first(handler(nse({ name: "p", networkServiceLabels: { a: { labels: { app: "x", clusterName: "old" } }, b: { labels: {} } } }), ctx()));
  t.deepEqual(seen[0]?.networkServiceLabels, { a: { labels: { app: "x", clusterName: "cluster-2" } }, b: { labels: { clusterName: "cluster-2" } } });
  await first(handler(nse({ name: "q" }), ctx()));
  t.deepEqual(seen[1]?.networkServiceLabels, {});
});

// interdomain-bypass ---------------------------------------------------------------------------------
const publicUrl = "tcp://198.51.100.1:5004";
const bypassWith = (routes: RouteStore) => ({ routes, publicUrl, isOwnUrl: (url: string) => url === publicUrl || url === "tcp://203.0.113.1:5004" });

test("interdomain-bypass Find: learns name -> url for each found NSE and publishes this proxy's url instead", async t => {
  const routes = createMemoryRouteStore();
  const expirationTime = { seconds: "1900000000", nanos: 7 };
  const handler = chain(interdomainBypassFind(bypassWith(routes)))(() =>
    of<NetworkServiceEndpointResponse>({ networkServiceEndpoint: nse({ name: "nse@d2", url: "tcp://192.0.2.2:5004", expirationTime }), deleted: false }),
  );
  const [found] = await all(handler(query, ctx()));
  t.is(found?.networkServiceEndpoint?.url, publicUrl);
  t.deepEqual(found?.networkServiceEndpoint?.expirationTime, expirationTime);
  t.is(await routes.get("nse@d2"), "tcp://192.0.2.2:5004");
});

test("interdomain-bypass Find: a newer answer replaces the route; deleted answers and this proxy's own url teach nothing", async t => {
  const routes = createMemoryRouteStore();
  await routes.set("nse@d2", "tcp://192.0.2.2:5004");
  await routes.set("pod@floating", "tcp://10.0.0.9:5001");
  const responses = new Subject<NetworkServiceEndpointResponse>();
  const out: NetworkServiceEndpointResponse[] = [];
  const subscription = chain(interdomainBypassFind(bypassWith(routes)))(() => responses)(query, ctx()).subscribe(r => out.push(r));
  responses.next({ networkServiceEndpoint: nse({ name: "nse@d2", url: "tcp://192.0.2.3:5004" }), deleted: false });
  responses.next({ networkServiceEndpoint: nse({ name: "gone@d2", url: "tcp://192.0.2.3:5004" }), deleted: true });
  responses.next({ networkServiceEndpoint: nse({ name: "pod@floating", url: "tcp://203.0.113.1:5004" }), deleted: false });
  await new Promise(r => setImmediate(r));
  subscription.unsubscribe();
  t.is(await routes.get("nse@d2"), "tcp://192.0.2.3:5004");
  t.is(await routes.get("gone@d2"), undefined);
  t.is(await routes.get("pod@floating"), "tcp://10.0.0.9:5001", "the route learned at Register is not replaced by our own url");
  t.deepEqual(
    out.map(r => [r.networkServiceEndpoint?.url, r.deleted]),
    [[publicUrl, false], [publicUrl, true], [publicUrl, false]],
  );
});

test("interdomain-bypass Find: a failing route store ends the stream UNAVAILABLE", async t => {
  const broken: RouteStore = { set: () => Promise.reject(new Error("redis down")), get: async () => undefined, delete: async () => undefined };
  const handler = chain(interdomainBypassFind(bypassWith(broken)))(() => of<NetworkServiceEndpointResponse>({ networkServiceEndpoint: nse({ name: "n@d", url: "tcp://1.2.3.4:5" }), deleted: false }));
  const error = await errorOf(handler(query, ctx()));
  t.is(error.code, Code.UNAVAILABLE);
  t.regex(error.message, /redis down/);
});

test("interdomain-bypass Register: out with our url; after success learns the NSMgr's url and answers with it", async t => {
  const routes = createMemoryRouteStore();
  const seen: NetworkServiceEndpoint[] = [];
  const handler = chain(interdomainBypassRegister(bypassWith(routes)))(req => {
    seen.push(req);
    return of({ ...req, expirationTime: { seconds: "5", nanos: 0 } });
  });
  const answer = await first(handler(nse({ name: "pod@floating", url: "tcp://10.0.0.9:5001" }), ctx()));
  t.is(seen[0]?.url, publicUrl);
  t.is(answer.url, "tcp://10.0.0.9:5001");
  t.deepEqual(answer.expirationTime, { seconds: "5", nanos: 0 });
  t.is(await routes.get("pod@floating"), "tcp://10.0.0.9:5001");
});

test("interdomain-bypass Register: a refused registration teaches nothing; an NSE without url is INVALID_ARGUMENT", async t => {
  const routes = createMemoryRouteStore();
  const refused = chain(interdomainBypassRegister(bypassWith(routes)))(() => throwError(() => new ProxyError(Code.PERMISSION_DENIED, "no")));
  t.is((await errorOf(refused(nse({ name: "pod@floating", url: "tcp://10.0.0.9:5001" }), ctx()))).code, Code.PERMISSION_DENIED);
  t.is(await routes.get("pod@floating"), undefined);
  const error = await errorOf(refused(nse({ name: "pod@floating" }), ctx()));
  t.is(error.code, Code.INVALID_ARGUMENT);
});

test("interdomain-bypass Unregister: out with our url; the route is forgotten on success and on NOT_FOUND only", async t => {
  const routes = createMemoryRouteStore();
  const seen: NetworkServiceEndpoint[] = [];
  const ok = chain(interdomainBypassUnregister(bypassWith(routes)))(req => (seen.push(req), of({})));
  await routes.set("a@f", "tcp://10.0.0.9:1");
  await first(ok(nse({ name: "a@f", url: "tcp://10.0.0.9:1" }), ctx()));
  t.is(seen[0]?.url, publicUrl);
  t.is(await routes.get("a@f"), undefined);

  const failing = (code: Code) => chain(interdomainBypassUnregister(bypassWith(routes)))(() => throwError(() => new ProxyError(code, "x")));
  await routes.set("b@f", "tcp://10.0.0.9:1");
  t.is((await errorOf(failing(Code.UNAVAILABLE)(nse({ name: "b@f" }), ctx()))).code, Code.UNAVAILABLE);
  t.is(await routes.get("b@f"), "tcp://10.0.0.9:1", "kept while the registry may still hold the NSE");
  t.is((await errorOf(failing(Code.NOT_FOUND)(nse({ name: "b@f" }), ctx()))).code, Code.NOT_FOUND);
  t.is(await routes.get("b@f"), undefined);
});
