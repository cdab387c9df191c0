/** Unit tests: remote-registry-route, remote-proxy-url, path-metadata, find-deadline and watch-end, each with a fake terminal. */
import test from "ava";
import { NEVER, Observable, Subject, of, throwError } from "rxjs";
import { chain, type Handler } from "../../../lib/pipeline/element.js";
import { Code, ProxyError } from "../../../lib/pipeline/errors.js";
import { nextHop } from "../../../lib/pipeline/forward.js";
import { outgoingMetadata } from "../../../lib/pipeline/upstream.js";
import { silentLogger } from "../../../lib/log.js";
import { remoteDomain } from "../../../lib/planes/registry/v1/interdomain-branch.js";
import { remoteRegistryRoute } from "../../../lib/planes/registry/v1/remote-registry-route.js";
import { remoteProxyUrl } from "../../../lib/planes/registry/v1/remote-proxy-url.js";
import { passPathMetadata } from "../../../lib/planes/registry/v1/path-metadata.js";
import { findDeadline } from "../../../lib/planes/registry/v1/find-deadline.js";
import { watchEnd } from "../../../lib/planes/registry/v1/watch-end.js";
import type { NetworkServiceEndpointQuery, NetworkServiceEndpointResponse } from "../../../generated/nsm/registry.js";
import { all, ctx, errorOf, first, nse, tableResolver } from "./_support.js";

const inDomain = (domain: string, metadata: Record<string, string> = {}) => ctx(undefined, metadata).with(remoteDomain, domain);
const query = (watch = false): NetworkServiceEndpointQuery => ({ networkServiceEndpoint: nse({ networkServiceNames: ["ns"] }), watch });

// remote-registry-route ------------------------------------------------------------------------------
test("remote-registry-route: next hop = the domain's registry from <registryService>.<domain>", async t => {
  const resolver = tableResolver({ "registry.nsm-system.cluster2": "127.0.0.1:5002" });
  const handler = chain(remoteRegistryRoute<string, string>(resolver, "registry.nsm-system"))((_req, c) => of(c.require(nextHop)));
  t.is(await first(handler("x", inDomain("cluster2"))), "127.0.0.1:5002");
  t.deepEqual(resolver.asked, ["registry.nsm-system.cluster2"]);
});

test("remote-registry-route: a DNS failure keeps its code and names the domain; nothing is called", async t => {
  let called = false;
  const handler = chain(remoteRegistryRoute<string, string>(tableResolver({}), "registry.nsm-system"))(() => ((called = true), of("x")));
  const error = await errorOf(handler("x", inDomain("nowhere")));
  t.is(error.code, Code.NOT_FOUND);
  t.regex(error.message, /nowhere/);
  t.false(called);
});

test("remote-registry-route: an error of the domain's registry keeps its code and gains the domain", async t => {
  const resolver = tableResolver({ "registry.nsm-system.cluster2": "127.0.0.1:5002" });
  const handler = chain(remoteRegistryRoute<string, string>(resolver, "registry.nsm-system"))(() => throwError(() => new ProxyError(Code.PERMISSION_DENIED, "no")));
  const error = await errorOf(handler("x", inDomain("cluster2")));
  t.is(error.code, Code.PERMISSION_DENIED);
  t.regex(error.message, /registry of domain "cluster2": no/);
});

// remote-proxy-url -----------------------------------------------------------------------------------
{
  const answers: NetworkServiceEndpointResponse[] = [
    { networkServiceEndpoint: nse({ name: "nse-1@cluster2", url: "tcp://10.0.0.5:5001" }), deleted: false },
    { networkServiceEndpoint: nse({ name: "nse-2@cluster2", url: "tcp://10.0.0.6:5001" }), deleted: true },
  ];
  const terminal: Handler<NetworkServiceEndpointQuery, NetworkServiceEndpointResponse> = () => of(...answers);
  const resolver = tableResolver({ "nsmgr-proxy.nsm-system.cluster2": "192.0.2.4:5004" });
  const handler = chain(remoteProxyUrl(resolver, "nsmgr-proxy.nsm-system", silentLogger))(terminal);

  test("remote-proxy-url: every found url (deleted ones too) becomes the domain's proxy", async t => {
    const out = await all(handler(query(), inDomain("cluster2")));
    t.deepEqual(
      out.map(r => r.networkServiceEndpoint?.url),
      ["tcp://192.0.2.4:5004", "tcp://192.0.2.4:5004"],
    );
  });

  test("remote-proxy-url: without a proxy in DNS (floating) the registered urls are kept", async t => {
    const out = await all(handler(query(), inDomain("floating.example")));
    t.deepEqual(
      out.map(r => r.networkServiceEndpoint?.url),
      ["tcp://10.0.0.5:5001", "tcp://10.0.0.6:5001"],
    );
  });
}

// path-metadata --------------------------------------------------------------------------------------
{
  const handler = chain(passPathMetadata<string, ReadonlyMap<string, string>>())((_req, c) => of(c.get(outgoingMetadata) ?? new Map()));
  const path = JSON.stringify({ Index: 1, PathSegments: [{ token: "t0" }, { token: "t1" }] });

  test("path-metadata: path and the per-RPC token go upstream exactly as they came; nothing else does", async t => {
    const md = { path, "nsm-client-token": "jwt", "nsm-client-token-expires": "2030-01-01T00:00:00Z", "user-agent": "x", authorization: "secret" };
    const out = await first(handler("x", ctx(undefined, md)));
    t.deepEqual(Object.fromEntries(out), { path, "nsm-client-token": "jwt", "nsm-client-token-expires": "2030-01-01T00:00:00Z" });
  });

  test("path-metadata: metadata set by earlier elements is kept", async t => {
    const c = ctx(undefined, { path }).with(outgoingMetadata, new Map([["x-earlier", "1"]]));
    t.deepEqual(Object.fromEntries(await first(handler("x", c))), { "x-earlier": "1", path });
  });

  test("path-metadata: no path (the SDK registries accept that) sends none", async t => {
    t.is((await first(handler("x", ctx()))).size, 0);
    t.deepEqual(Object.fromEntries(await first(handler("x", ctx(undefined, { path: '{"Index":0,"PathSegments":null}' })))), { path: '{"Index":0,"PathSegments":null}' });
  });

  for (const bad of ["not json", "[]", '{"Index":-1}', '{"Index":2,"PathSegments":[{"token":"a"}]}', '{"PathSegments":"x"}']) {
    test(`path-metadata: path ${bad} is INVALID_ARGUMENT`, async t => {
      const error = await errorOf(handler("x", ctx(undefined, { path: bad })));
      t.is(error.code, Code.INVALID_ARGUMENT);
      t.regex(error.message, /"path" metadata/);
    });
  }
}

// find-deadline --------------------------------------------------------------------------------------
test("find-deadline: a listing Find gets a deadline, carried upstream and enforced", async t => {
  let seen: number | undefined;
  const handler = chain(findDeadline<NetworkServiceEndpointQuery, NetworkServiceEndpointResponse>(30, () => 1000))((_req, c) => {
    seen = c.deadline;
    return NEVER;
  });
  const error = await errorOf(handler(query(false), ctx()));
  t.is(error.code, Code.DEADLINE_EXCEEDED);
  t.is(seen, 1030);
});

test("find-deadline: a watching Find gets none", async t => {
  let seen = -1 as number | undefined;
  const handler = chain(findDeadline<NetworkServiceEndpointQuery, NetworkServiceEndpointResponse>(30))((_req, c) => {
    seen = c.deadline;
    return of({ deleted: false });
  });
  await all(handler(query(true), ctx()));
  t.is(seen, undefined);
});

// watch-end ------------------------------------------------------------------------------------------
test("watch-end: a watch that the registry ends with OK ends UNAVAILABLE after relaying everything", async t => {
  const values: boolean[] = [];
  const handler = chain(watchEnd<NetworkServiceEndpointQuery, NetworkServiceEndpointResponse>())(() => of({ deleted: false }, { deleted: true }));
  const error = await errorOf(new Observable<unknown>(s => handler(query(true), ctx()).subscribe({ next: v => (values.push(v.deleted), s.next(v)), error: e => s.error(e), complete: () => s.complete() })));
  t.is(error.code, Code.UNAVAILABLE);
  t.deepEqual(values, [false, true]);
});

test("watch-end: a listing Find completes normally; upstream errors keep their code", async t => {
  const ok = chain(watchEnd<NetworkServiceEndpointQuery, NetworkServiceEndpointResponse>())(() => of({ deleted: false }));
  t.is((await all(ok(query(false), ctx()))).length, 1);
  const broken = chain(watchEnd<NetworkServiceEndpointQuery, NetworkServiceEndpointResponse>())(() => throwError(() => new ProxyError(Code.PERMISSION_DENIED, "no")));
  t.is((await errorOf(broken(query(true), ctx()))).code, Code.PERMISSION_DENIED);
});

test("watch-end: unsubscribing the caller unsubscribes the upstream", t => {
  const upstream = new Subject<NetworkServiceEndpointResponse>();
  const handler = chain(watchEnd<NetworkServiceEndpointQuery, NetworkServiceEndpointResponse>())(() => upstream);
  const subscription = handler(query(true), ctx()).subscribe({ error: () => undefined });
  t.true(upstream.observed);
  subscription.unsubscribe();
  t.false(upstream.observed);
});
