/** Unit tests of the FindNetworkService elements, one block per element (each chained with a fake terminal). */
import test from "ava";
import { firstValueFrom, of, throwError } from "rxjs";
import { chain, type Handler } from "../../../lib/pipeline/element.js";
import { Code, ProxyError } from "../../../lib/pipeline/errors.js";
import { checkFindRequest } from "../../../lib/planes/registry/check-find-request.js";
import { type FindNetworkServiceRequest, FindNetworkServiceResponse } from "../../../generated/seed/registry.js";
import { ctx, errorOf, findResponse, recordingLog } from "./_support.js";
import { frozen } from "../../support/values.js";
import { interdomainBranch } from "../../../lib/planes/registry/interdomain-branch.js";
import { nextHop } from "../../../lib/pipeline/forward.js";
import { createDomainResolver, type Lookup } from "../../../lib/domains/resolve.js";
import { remoteDomainRoute } from "../../../lib/planes/registry/remote-domain-route.js";
import { interdomainServiceName } from "../../../lib/planes/registry/interdomain-service-name.js";
import { createNodeMap } from "../../../lib/nodes/node-map.js";
import { onThisNode } from "../../../lib/planes/registry/this-node.js";
import { localizeNsm } from "../../../lib/planes/registry/localize-nsm.js";
import { advertiseRemoteNsms } from "../../../lib/planes/registry/advertise-remote-nsms.js";
import { externalUrl } from "../../../lib/planes/registry/external-url.js";
import { externalNsmUrls } from "../../../lib/planes/registry/external-nsm-urls.js";

// check-find-request ------------------------------------------------------------------------------
{
  const answer = FindNetworkServiceResponse.fromPartial({ payload: "ok" });
  const handler = chain(checkFindRequest())(() => of(answer));

  test("check-find-request: a named service passes through", async t => {
    t.is(await firstValueFrom(handler({ networkServiceName: "icmp" }, ctx())), answer);
  });

  for (const name of ["", "   "]) {
    test(`check-find-request: an empty name (${JSON.stringify(name)}) is INVALID_ARGUMENT`, async t => {
      const error = await errorOf(handler({ networkServiceName: name }, ctx()));
      t.is(error.code, Code.INVALID_ARGUMENT);
      t.regex(error.message, /network_service_name is empty/);
    });
  }
}

// interdomain-branch ------------------------------------------------------------------------------
{
  const tagged = (payload: string) => FindNetworkServiceResponse.fromPartial({ payload });
  const handler = chain(interdomainBranch(req => of(tagged(`remote:${req.networkServiceName}`))))(req => of(tagged(`local:${req.networkServiceName}`)));

  test("interdomain-branch: service@domain goes to the interdomain handler", async t => {
    t.is((await firstValueFrom(handler({ networkServiceName: "icmp@example.org" }, ctx()))).payload, "remote:icmp@example.org");
  });

  test("interdomain-branch: a plain name goes on to the local chain", async t => {
    t.is((await firstValueFrom(handler({ networkServiceName: "icmp" }, ctx()))).payload, "local:icmp");
  });
}

// remote-domain-route -----------------------------------------------------------------------------
{
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

  test.serial("remote-domain-route: an IP literal domain is dialled on the remote port, the request passed on unchanged", async t => {
    seen.length = 0;
    t.is(await hopFor("icmp@192.0.2.1"), "192.0.2.1:80");
    t.deepEqual(seen[0]?.req, { networkServiceName: "icmp@192.0.2.1" });
  });

  test("remote-domain-route: a host:port domain names its own port", async t => {
    t.is(await hopFor("icmp@127.0.0.1:5010"), "127.0.0.1:5010");
  });

  test("remote-domain-route: an IPv6 domain is bracketed", async t => {
    t.is(await hopFor("icmp@2001:db8::1"), "[2001:db8::1]:80");
    t.is(await hopFor("icmp@[2001:db8::1]:5005"), "[2001:db8::1]:5005");
  });

  test("remote-domain-route: a DNS name is looked up, the first address dialled", async t => {
    t.is(await hopFor("icmp@remote.example"), "192.0.2.7:80");
    t.true(lookups.includes("remote.example"));
  });

  test("remote-domain-route: a name that does not resolve is NOT_FOUND, naming the domain", async t => {
    const error = await errorOf(route()({ networkServiceName: "icmp@nowhere.example" }, ctx()));
    t.is(error.code, Code.NOT_FOUND);
    t.regex(error.message, /nowhere\.example/);
  });

  test("remote-domain-route: resolver trouble is UNAVAILABLE", async t => {
    t.is((await errorOf(route()({ networkServiceName: "icmp@flaky.example" }, ctx()))).code, Code.UNAVAILABLE);
  });

  for (const name of ["@192.0.2.1", "icmp@", "icmp@not a host"]) {
    test(`remote-domain-route: a malformed name ${JSON.stringify(name)} is INVALID_ARGUMENT`, async t => {
      t.is((await errorOf(route()({ networkServiceName: name }, ctx()))).code, Code.INVALID_ARGUMENT);
    });
  }

  test("remote-domain-route: an error from the domain keeps its code and gains the name asked for", async t => {
    const failing = route(() => throwError(() => new ProxyError(Code.PERMISSION_DENIED, "next hop 192.0.2.1:80: go away")));
    const error = await errorOf(failing({ networkServiceName: "icmp@192.0.2.1" }, ctx()));
    t.is(error.code, Code.PERMISSION_DENIED);
    t.is(error.message, 'FindNetworkService "icmp@192.0.2.1": next hop 192.0.2.1:80: go away');
  });
}

// interdomain-service-name ------------------------------------------------------------------------
{
  test("interdomain-service-name: the domain is stripped on the way out and the answer names the service as asked", async t => {
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

  test("interdomain-service-name: an answer without a network_service stays without one", async t => {
    const handler = chain(interdomainServiceName())(() => of(findResponse({ payload: "x" })));
    const res = await firstValueFrom(handler({ networkServiceName: "icmp@d" }, ctx()));
    t.is(res.networkService, undefined);
  });
}

// this-node ---------------------------------------------------------------------------------------
{
  const nodes = createNodeMap([
    { name: "node-1", internalIP: "10.0.0.1", externalIP: "203.0.113.1" },
    { name: "node-2", internalIP: "10.0.0.2", externalIP: "203.0.113.2" },
  ]);

  test("this-node: a URL on this node's external or internal IP, any port, is on this node", t => {
    const here = onThisNode(nodes, "node-1");
    t.true(here("203.0.113.1:5001"));
    t.true(here("10.0.0.1:80"));
  });

  test("this-node: another node's URL, a malformed URL or an empty one is not", t => {
    const here = onThisNode(nodes, "node-1");
    t.false(here("203.0.113.2:5001"));
    t.false(here("10.0.0.2:5001"));
    t.false(here("203.0.113.1"));
    t.false(here(""));
  });

  test("this-node: nothing is on this node when NODE_NAME is unset or unknown to the node map", t => {
    t.false(onThisNode(nodes, undefined)("203.0.113.1:5001"));
    t.false(onThisNode(nodes, "node-9")("203.0.113.1:5001"));
  });

  test("this-node: a reloaded node map is seen at once", t => {
    const map = createNodeMap([]);
    const here = onThisNode(map, "node-1");
    t.false(here("10.0.0.1:5001"));
    map.replace([{ name: "node-1", internalIP: "10.0.0.1", externalIP: "" }]);
    t.true(here("10.0.0.1:5001"));
  });
}

// localize-nsm ------------------------------------------------------------------------------------
{
  const nodes = createNodeMap([{ name: "node-1", internalIP: "10.0.0.1", externalIP: "203.0.113.1" }]);
  const run = async (answer: FindNetworkServiceResponse, nodeName: string | undefined) =>
    firstValueFrom(chain(localizeNsm(nodeName, onThisNode(nodes, nodeName)))(() => of(answer))({ networkServiceName: "icmp" }, ctx()));

  /** What NSMRS answers when this node's NSMgr registered an NSE: "name_ip_port" names. */
  const fromNsmrs = findResponse({
    networkService: { name: "icmp" },
    networkServiceManagers: {
      "node-1_203.0.113.1_5001": { name: "node-1_203.0.113.1_5001", url: "203.0.113.1:5001" },
      "node-7_198.51.100.7_5001": { name: "node-7_198.51.100.7_5001", url: "198.51.100.7:5001" },
    },
    networkServiceEndpoints: [
      { name: "nse-here", networkServiceName: "icmp", networkServiceManagerName: "node-1_203.0.113.1_5001" },
      { name: "nse-there", networkServiceName: "icmp", networkServiceManagerName: "node-7_198.51.100.7_5001" },
    ],
  });

  test("localize-nsm: this node's NSMgr becomes NODE_NAME, under the key NODE_NAME, and its endpoints point at it", async t => {
    const res = await run(fromNsmrs, "node-1");
    t.deepEqual(Object.keys(res.networkServiceManagers).sort(), ["node-1", "node-7_198.51.100.7_5001"]);
    t.is(res.networkServiceManagers["node-1"]?.name, "node-1");
    t.is(res.networkServiceManagers["node-1"]?.url, "203.0.113.1:5001", "the URL is kept");
    t.deepEqual(
      res.networkServiceEndpoints.map(e => [e.name, e.networkServiceManagerName]),
      [
        ["nse-here", "node-1"],
        ["nse-there", "node-7_198.51.100.7_5001"],
      ],
    );
    t.is(fromNsmrs.networkServiceManagers["node-1_203.0.113.1_5001"]?.name, "node-1_203.0.113.1_5001", "the answer received is not edited");
  });

  test("localize-nsm: an endpoint is renamed by the NSMRS suffix even when its NSMgr name differs from the key", async t => {
    const res = await run(
      findResponse({
        networkServiceManagers: { k: { name: "whatever", url: "10.0.0.1:5001" } },
        networkServiceEndpoints: [
          { name: "a", networkServiceManagerName: "nsmd_10.0.0.1_5001" },
          { name: "b", networkServiceManagerName: "whatever" },
          { name: "c", networkServiceManagerName: "nsmd_10.0.0.1_50011" },
        ],
      }),
      "node-1",
    );
    t.deepEqual(Object.keys(res.networkServiceManagers), ["node-1"]);
    t.deepEqual(
      res.networkServiceEndpoints.map(e => e.networkServiceManagerName),
      ["node-1", "node-1", "nsmd_10.0.0.1_50011"],
    );
  });

  test("localize-nsm: an answer with no NSMgr on this node is returned as it came", async t => {
    const answer = findResponse({
      networkServiceManagers: { "node-7": { name: "node-7", url: "198.51.100.7:5001" } },
      networkServiceEndpoints: [{ name: "nse", networkServiceManagerName: "node-7" }],
    });
    t.is(await run(answer, "node-1"), answer);
  });

  test("localize-nsm: without NODE_NAME nothing is localized", async t => {
    t.is(await run(fromNsmrs, undefined), fromNsmrs);
  });
}

// advertise-remote-nsms ---------------------------------------------------------------------------
{
  const nodes = createNodeMap([{ name: "node-1", internalIP: "10.0.0.1", externalIP: "203.0.113.1" }]);
  const remote = findResponse({
    networkService: { name: "icmp" },
    networkServiceManagers: {
      "node-7": { name: "node-7", url: "198.51.100.7:5001", state: "RUNNING" },
      "key-8": { name: "node-8", url: "198.51.100.8:5001" },
    },
    networkServiceEndpoints: [
      { name: "a", networkServiceManagerName: "node-7" },
      { name: "b", networkServiceManagerName: "key-8" },
    ],
  });

  test("advertise-remote-nsms: each NSMgr becomes name@url at the advertised address, keys and endpoints unchanged", async t => {
    const handler = chain(advertiseRemoteNsms("pnsmgr-svc:5006", onThisNode(nodes, undefined)))(() => of(remote));
    const res = await firstValueFrom(handler({ networkServiceName: "icmp" }, ctx()));
    t.deepEqual(res.networkServiceManagers, {
      "node-7": { name: "node-7@198.51.100.7:5001", url: "pnsmgr-svc:5006", state: "RUNNING", lastSeen: undefined },
      "key-8": { name: "node-8@198.51.100.8:5001", url: "pnsmgr-svc:5006", state: "", lastSeen: undefined },
    });
    t.is(res.networkServiceEndpoints, remote.networkServiceEndpoints);
    t.is(remote.networkServiceManagers["node-7"]?.url, "198.51.100.7:5001", "the answer received is not edited");
  });

  test("advertise-remote-nsms: this node's NSMgr is left to localize-nsm; in the plane's order both apply", async t => {
    const here = onThisNode(nodes, "node-1");
    const withLocal = findResponse({
      networkServiceManagers: {
        "node-1_203.0.113.1_5001": { name: "node-1_203.0.113.1_5001", url: "203.0.113.1:5001" },
        "node-7": { name: "node-7", url: "198.51.100.7:5001" },
      },
    });
    const alone = await firstValueFrom(chain(advertiseRemoteNsms("proxy:5006", here))(() => of(withLocal))({ networkServiceName: "icmp" }, ctx()));
    t.is(alone.networkServiceManagers["node-1_203.0.113.1_5001"]?.url, "203.0.113.1:5001");
    t.is(alone.networkServiceManagers["node-7"]?.url, "proxy:5006");

    const both = await firstValueFrom(
      chain(advertiseRemoteNsms("proxy:5006", here), localizeNsm("node-1", here))(() => of(withLocal))({ networkServiceName: "icmp" }, ctx()),
    );
    t.deepEqual(
      Object.entries(both.networkServiceManagers).map(([k, n]) => [k, n.name, n.url]),
      [
        ["node-7", "node-7@198.51.100.7:5001", "proxy:5006"],
        ["node-1", "node-1", "203.0.113.1:5001"],
      ],
    );
  });
}

// external-url ------------------------------------------------------------------------------------
{
  const nodes = createNodeMap([
    { name: "node-1", internalIP: "10.0.0.1", externalIP: "203.0.113.1" },
    { name: "node-2", internalIP: "10.0.0.2", externalIP: "" },
    { name: "node-v6", internalIP: "fd00::3", externalIP: "2001:db8::3" },
  ]);

  test("external-url: the URL's IP finds the node; the host becomes its external IP, the port is kept", t => {
    t.is(externalUrl(nodes, "10.0.0.1:5001", "whatever"), "203.0.113.1:5001");
    t.is(externalUrl(nodes, "203.0.113.1:5001", "whatever"), "203.0.113.1:5001");
  });

  test("external-url: a node without an external IP gives its internal IP", t => {
    t.is(externalUrl(nodes, "10.0.0.2:5001", ""), "10.0.0.2:5001");
  });

  test("external-url: IPv6 URLs stay bracketed", t => {
    t.is(externalUrl(nodes, "[fd00::3]:5001", ""), "[2001:db8::3]:5001");
  });

  test("external-url: the URL's IP wins over the name; the name is the fallback", t => {
    t.is(externalUrl(nodes, "10.0.0.1:5001", "node-2"), "203.0.113.1:5001");
    t.is(externalUrl(nodes, "nsmd.local:5001", "node-1"), "203.0.113.1:5001");
    t.is(externalUrl(nodes, "192.0.2.99:5001", "node-1"), "203.0.113.1:5001");
  });

  test("external-url: no match, or a URL that is not host:port, gives undefined", t => {
    t.is(externalUrl(nodes, "192.0.2.99:5001", "node-9"), undefined);
    t.is(externalUrl(nodes, "10.0.0.1", "node-1"), undefined);
  });
}

// external-nsm-urls -------------------------------------------------------------------------------
{
  const nodes = createNodeMap([
    { name: "node-1", internalIP: "10.0.0.1", externalIP: "203.0.113.1" },
    { name: "node-2", internalIP: "10.0.0.2", externalIP: "203.0.113.2" },
  ]);

  const local = findResponse({
    networkService: { name: "icmp" },
    networkServiceManagers: {
      "node-1": { name: "node-1", url: "10.0.0.1:5001" },
      "node-2": { name: "nsmd-b", url: "nsmd-b.svc:5001" },
      "node-9": { name: "node-9", url: "10.9.9.9:5001" },
    },
    networkServiceEndpoints: [{ name: "nse", networkServiceManagerName: "node-1" }],
  });

  test("external-nsm-urls: each NSMgr URL gets its node's external IP; keys, names and endpoints unchanged", async t => {
    const log = recordingLog();
    const handler = chain(externalNsmUrls(nodes, log))(() => of(local));
    const res = await firstValueFrom(handler({ networkServiceName: "icmp" }, ctx()));
    t.deepEqual(
      Object.entries(res.networkServiceManagers).map(([k, n]) => [k, n.name, n.url]),
      [
        ["node-1", "node-1", "203.0.113.1:5001"],
        ["node-2", "nsmd-b", "203.0.113.2:5001"], // found by the map key
        ["node-9", "node-9", "10.9.9.9:5001"], // no node: kept
      ],
    );
    t.is(res.networkServiceEndpoints, local.networkServiceEndpoints);
    t.is(local.networkServiceManagers["node-1"]?.url, "10.0.0.1:5001", "the answer received is not edited");
    t.deepEqual(
      log.lines.map(l => [l.level, l.fields.nsm]),
      [["debug", "node-9"]],
    );
  });
}
