/** Unit tests of the NSE registration and ClusterInfo elements, one block per element (each chained with a fake terminal). */
import test from "ava";
import { firstValueFrom, lastValueFrom, type Observable, of, Subject, toArray } from "rxjs";
import { chain, type Handler } from "../../../lib/pipeline/element.js";
import { Code, invalidArgument, ProxyError } from "../../../lib/pipeline/errors.js";
import { nextHop } from "../../../lib/pipeline/forward.js";
import { configuredRoute } from "../../../lib/planes/registry/configured-route.js";
import { ctx, errorOf, recordingLog, registration } from "./_support.js";
import { rewriteEachMessage, rewriteRequest } from "../../../lib/planes/registry/rewrite-request.js";
import { checkBulkRegistration, checkRegistration } from "../../../lib/planes/registry/check-registration.js";
import { NSERegistration } from "../../../generated/seed/registry.js";
import { createNodeMap } from "../../../lib/nodes/node-map.js";
import { externalBulkRegistrationUrl, externalRegistrationUrl } from "../../../lib/planes/registry/external-registration-url.js";
import { checkRemoveRequest } from "../../../lib/planes/registry/check-remove-request.js";
import { checkNodeQuery } from "../../../lib/planes/registry/check-node-query.js";
import { nodeIPConfiguration } from "../../../lib/planes/registry/node-ip-configuration.js";
import { NodeIPConfiguration } from "../../../generated/seed/clusterinfo.js";

// configured-route --------------------------------------------------------------------------------
{
  test("configured-route: the configured address is the next hop", async t => {
    const handler = chain(configuredRoute<string, string>("10.1.1.1:5010", "NSMRS_ADDRESS", "NSMRS"))((req, c) => of(`${req}->${c.require(nextHop)}`));
    t.is(await firstValueFrom(handler("r", ctx())), "r->10.1.1.1:5010");
  });

  for (const address of [undefined, ""]) {
    test(`configured-route: an unset address (${JSON.stringify(address)}) is UNAVAILABLE naming the variable, nothing dialled`, async t => {
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
}

// rewrite-request ---------------------------------------------------------------------------------
{
  const upper = (s: string) => {
    if (s === "bad") throw invalidArgument("bad message");
    return s.toUpperCase();
  };

  test("rewrite-request: a unary request is rewritten before the next element sees it", async t => {
    const handler = chain(rewriteRequest<string, string>("upper", upper))(req => of(req));
    t.is(await firstValueFrom(handler("abc", ctx())), "ABC");
    t.is((await errorOf(handler("bad", ctx()))).code, Code.INVALID_ARGUMENT);
  });

  test("rewrite-request: each streamed message is rewritten", async t => {
    const echo: Handler<Observable<string>, string> = requests => requests;
    const handler = chain(rewriteEachMessage<string, string>("upper", upper))(echo);
    t.deepEqual(await lastValueFrom(handler(of("a", "b"), ctx()).pipe(toArray())), ["A", "B"]);
  });

  test("rewrite-request: a bad streamed message fails the stream with its code and position", async t => {
    const echo: Handler<Observable<string>, string> = requests => requests;
    const requests = new Subject<string>();
    const result = lastValueFrom(chain(rewriteEachMessage<string, string>("upper", upper))(echo)(requests, ctx()).pipe(toArray())).then(
      () => undefined,
      (e: unknown) => e as ProxyError,
    );
    requests.next("a");
    requests.next("bad");
    const error = await result;
    t.is(error?.code, Code.INVALID_ARGUMENT);
    t.is(error?.message, "message 2: bad message");
  });
}

// check-registration ------------------------------------------------------------------------------
{
  const good = registration({ name: "node-1", url: "10.0.0.1:5001" });
  const unary = chain(checkRegistration<NSERegistration>())(req => of(req));

  test("check-registration: a complete registration passes unchanged", async t => {
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
    test(`check-registration: ${what} is INVALID_ARGUMENT`, async t => {
      const error = await errorOf(unary(reg, ctx()));
      t.is(error.code, Code.INVALID_ARGUMENT);
      t.regex(error.message, message);
    });
  }

  test("check-registration: in a stream, every message is checked; a bad one fails the stream", async t => {
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
}

// external-registration-url -----------------------------------------------------------------------
{
  const nodes = createNodeMap([{ name: "node-1", internalIP: "10.0.0.1", externalIP: "203.0.113.1" }]);

  test("external-registration-url: the NSMgr URL goes out with the node's external IP, the rest unchanged", async t => {
    const sent: NSERegistration[] = [];
    const handler = chain(externalRegistrationUrl<NSERegistration>(nodes, recordingLog()))(req => {
      sent.push(req);
      return of(req);
    });
    const reg = registration({ name: "node-1", url: "10.0.0.1:5001" });
    await firstValueFrom(handler(reg, ctx()));
    t.is(sent[0]?.networkServiceManager?.url, "203.0.113.1:5001");
    t.is(sent[0]?.networkServiceManager?.name, "node-1");
    t.is(sent[0]?.networkServiceEndpoint, reg.networkServiceEndpoint);
    t.is(reg.networkServiceManager?.url, "10.0.0.1:5001", "the request received is not edited");
  });

  test("external-registration-url: found by NSMgr name when the URL's host is no node IP", async t => {
    const handler = chain(externalRegistrationUrl<NSERegistration>(nodes, recordingLog()))(req => of(req));
    const res = await firstValueFrom(handler(registration({ name: "node-1", url: "nsmd.local:5001" }), ctx()));
    t.is(res.networkServiceManager?.url, "203.0.113.1:5001");
  });

  test("external-registration-url: no node: forwarded as is, logged at debug", async t => {
    const log = recordingLog();
    const handler = chain(externalRegistrationUrl<NSERegistration>(nodes, log))(req => of(req));
    const reg = registration({ name: "node-9", url: "198.51.100.9:5001" });
    t.is(await firstValueFrom(handler(reg, ctx())), reg);
    t.deepEqual(log.lines.map(l => l.level), ["debug"]);
  });

  test("external-registration-url: each streamed registration is swapped", async t => {
    const echo: Handler<Observable<NSERegistration>, NSERegistration> = requests => requests;
    const bulk = chain(externalBulkRegistrationUrl<NSERegistration>(nodes, recordingLog()))(echo);
    const out = await lastValueFrom(
      bulk(of(registration({ name: "node-1", url: "10.0.0.1:5001" }, "a"), registration({ name: "x", url: "10.0.0.1:6001" }, "b")), ctx()).pipe(toArray()),
    );
    t.deepEqual(
      out.map(r => r.networkServiceManager?.url),
      ["203.0.113.1:5001", "203.0.113.1:6001"],
    );
  });
}

// check-remove-request ----------------------------------------------------------------------------
{
  const handler = chain(checkRemoveRequest())(() => of({}));

  test("check-remove-request: a named endpoint passes", async t => {
    t.deepEqual(await firstValueFrom(handler({ networkServiceEndpointName: "nse-1" }, ctx())), {});
  });

  test("check-remove-request: no endpoint name is INVALID_ARGUMENT", async t => {
    const error = await errorOf(handler({ networkServiceEndpointName: "" }, ctx()));
    t.is(error.code, Code.INVALID_ARGUMENT);
    t.regex(error.message, /network_service_endpoint_name is empty/);
  });
}

// node-ip-configuration ---------------------------------------------------------------------------
{
  const nodes = createNodeMap([
    { name: "node-1", internalIP: "10.0.0.1", externalIP: "203.0.113.1" },
    { name: "node-2", internalIP: "10.0.0.2", externalIP: "" },
    { name: "node-3", internalIP: "", externalIP: "203.0.113.3" },
  ]);
  const handler = chain(checkNodeQuery())(nodeIPConfiguration(nodes));
  const ask = (q: Partial<NodeIPConfiguration>) => firstValueFrom(handler(NodeIPConfiguration.fromPartial(q), ctx("/clusterinfo.ClusterInfo/GetNodeIPConfiguration")));

  test("node-ip-configuration: found by name, by internal IP, by external IP", async t => {
    const node1 = { nodeName: "node-1", internalIP: "10.0.0.1", externalIP: "203.0.113.1" };
    t.deepEqual(await ask({ nodeName: "node-1" }), node1);
    t.deepEqual(await ask({ internalIP: "10.0.0.1" }), node1);
    t.deepEqual(await ask({ externalIP: "203.0.113.1" }), node1);
    t.deepEqual(await ask({ internalIP: "10.0.0.2" }), { nodeName: "node-2", internalIP: "10.0.0.2", externalIP: "" });
  });

  test("node-ip-configuration: empty fields match nothing: an empty external IP does not find node-2", async t => {
    t.deepEqual(await ask({ externalIP: "203.0.113.3" }), { nodeName: "node-3", internalIP: "", externalIP: "203.0.113.3" });
    t.is((await errorOf(handler(NodeIPConfiguration.fromPartial({ nodeName: "nope", externalIP: "" }), ctx()))).code, Code.NOT_FOUND);
  });

  test("node-ip-configuration: the first node matching any field answers", async t => {
    t.is((await ask({ nodeName: "node-2", internalIP: "10.0.0.1" })).nodeName, "node-1");
  });

  test("node-ip-configuration: no match is NOT_FOUND with the query in the message", async t => {
    const error = await errorOf(handler(NodeIPConfiguration.fromPartial({ internalIP: "10.9.9.9" }), ctx()));
    t.is(error.code, Code.NOT_FOUND);
    t.is(error.message, `node was not found: internalIP="10.9.9.9"`);
  });

  test("node-ip-configuration: an empty query is INVALID_ARGUMENT", async t => {
    const error = await errorOf(handler(NodeIPConfiguration.fromPartial({}), ctx()));
    t.is(error.code, Code.INVALID_ARGUMENT);
    t.regex(error.message, /query is empty/);
  });
}
