/** Unit tests of the seed connection elements, each chained with a small fake terminal. */
import test from "ava";
import { firstValueFrom, of } from "rxjs";
import { chain, type Handler } from "../../../lib/pipeline/element.js";
import { createCallContext } from "../../../lib/pipeline/context.js";
import { Code, ProxyError } from "../../../lib/pipeline/errors.js";
import { nextHop } from "../../../lib/pipeline/forward.js";
import { checkSeedClose, checkSeedRequest } from "../../../lib/planes/connection/seed-request-check.js";
import { remoteNsm, remoteNsmName, seedRoute } from "../../../lib/planes/connection/seed-route.js";
import { interdomainService } from "../../../lib/planes/connection/interdomain-service.js";
import { seedSwapIP, swapOut } from "../../../lib/planes/connection/seed-swap-ip.js";
import { forgetConnection, recordConnection } from "../../../lib/planes/connection/record-connection.js";
import { renameSegment, restoreClientIPs } from "../../../lib/planes/seed-connection-view.js";
import { createNodeMap } from "../../../lib/nodes/node-map.js";
import { createDomainResolver } from "../../../lib/domains/resolve.js";
import { createMemoryConnectionStore } from "../../../lib/state/memory/records.js";
import type { RemoteClusterInfo } from "../../../lib/domains/remote-cluster-info.js";
import type { Connection } from "../../../generated/nsm/connection.js";
import type { NetworkServiceRequest } from "../../../generated/nsm/networkservice.js";
import { seedRequest, vxlan } from "../../support/seed-requests.js";

const ctx = () => createCallContext({ method: "/networkservice.NetworkService/Request" });
const REMOTE = "nsmgr-2@10.9.0.1:5001";
const lens = { get: (r: NetworkServiceRequest) => r.connection, set: (r: NetworkServiceRequest, connection: Connection) => ({ ...r, connection }) };

/** A terminal that answers with the connection it was sent (as a remote NSMgr would), remembering the request. */
function echo(seen: NetworkServiceRequest[] = [], dst = "10.2.0.7"): Handler<NetworkServiceRequest, Connection> {
  return req => {
    seen.push(req);
    const pref = req.mechanismPreferences[0];
    return of({ ...req.connection!, id: "remote-1", mechanism: pref ? { ...pref, parameters: { ...pref.parameters, dst_ip: dst } } : undefined });
  };
}

async function invalid(t: import("ava").ExecutionContext, handler: Handler<NetworkServiceRequest, Connection>, req: NetworkServiceRequest, message: RegExp) {
  const error = (await t.throwsAsync(firstValueFrom(handler(req, ctx())))) as ProxyError;
  t.is(error.code, Code.INVALID_ARGUMENT);
  t.regex(error.message, message);
}

test("check-request: connection, two path segments and a preference are required", async t => {
  const handler = chain(checkSeedRequest())(echo());
  await invalid(t, handler, { connection: undefined, mechanismPreferences: [vxlan("1.1.1.1")] }, /no connection/);
  await invalid(t, handler, seedRequest(REMOTE, {}, []), /no mechanism preferences/);
  await invalid(t, handler, seedRequest(REMOTE, { path: undefined }), /0 segment/);
  t.is((await firstValueFrom(handler(seedRequest(REMOTE), ctx()))).id, "remote-1");
  const close = chain(checkSeedClose<object>())(() => of({}));
  await t.throwsAsync(firstValueFrom(close(seedRequest(REMOTE, { path: undefined }).connection!, ctx())), { message: /0 segment/ });
});

test("route: next hop and remote NSMgr come from path segment 1", async t => {
  let seenHop: string | undefined;
  let seenName: string | undefined;
  const handler = chain(seedRoute<NetworkServiceRequest, Connection>(r => r.connection))((req, c) => {
    seenHop = c.get(nextHop);
    seenName = c.get(remoteNsm)?.name;
    return echo()(req, c);
  });
  await firstValueFrom(handler(seedRequest(REMOTE), ctx()));
  t.is(seenHop, "10.9.0.1:5001");
  t.is(seenName, "nsmgr-2");
  await invalid(t, handler, seedRequest("nsmgr-2"), /has no "@"/);
});

test("remote-nsm-name: bare name out, as written back; the request object is not mutated", async t => {
  const seen: NetworkServiceRequest[] = [];
  const handler = chain(
    seedRoute<NetworkServiceRequest, Connection>(r => r.connection),
    remoteNsmName(lens, (c: Connection, written: string) => renameSegment(c, 1, written)),
  )(echo(seen));
  const req = seedRequest(REMOTE);
  const frozen = JSON.stringify(req);
  const res = await firstValueFrom(handler(req, ctx()));
  t.is(seen[0]?.connection?.path?.pathSegments[1]?.name, "nsmgr-2");
  t.is(res.path?.pathSegments[1]?.name, REMOTE);
  t.is(JSON.stringify(req), frozen);
});

test("interdomain-service: service@domain stripped out and restored back; plain names untouched", async t => {
  const seen: NetworkServiceRequest[] = [];
  const handler = chain(interdomainService(lens, (c: Connection, original: string) => ({ ...c, networkService: original })))(echo(seen));
  const res = await firstValueFrom(handler(seedRequest(REMOTE), ctx()));
  t.is(seen[0]?.connection?.networkService, "icmp-responder");
  t.is(res.networkService, "icmp-responder@domain-2");
  const plain = await firstValueFrom(handler(seedRequest(REMOTE, { networkService: "local" }), ctx()));
  t.is(plain.networkService, "local");
});

test("swap-ip: every preference out, the client's view back", async t => {
  const nodes = createNodeMap([{ name: "n1", internalIP: "10.1.0.5", externalIP: "203.0.113.5" }]);
  const asked: string[] = [];
  const clusterInfo: RemoteClusterInfo = {
    cached: () => undefined,
    externalIP: async (host, ip) => {
      asked.push(`${host}|${ip}`);
      return ip === "10.2.0.7" ? "198.51.100.7" : undefined;
    },
  };
  const seen: NetworkServiceRequest[] = [];
  const resolver = createDomainResolver(async () => "10.9.0.1");
  const handler = chain(seedRoute<NetworkServiceRequest, Connection>(r => r.connection), seedSwapIP(nodes, resolver, clusterInfo))(echo(seen));
  const res = await firstValueFrom(handler(seedRequest("nsmgr-2@remote.example:5001", {}, [vxlan("10.1.0.5"), vxlan("10.1.0.5"), vxlan("192.0.2.1")]), ctx()));
  const prefs = seen[0]?.mechanismPreferences ?? [];
  t.deepEqual(prefs[0]?.parameters, { src_ip: "203.0.113.5", orig_src_ip: "10.1.0.5", ext_src_ip: "10.9.0.1" });
  t.deepEqual(prefs[1]?.parameters, prefs[0]?.parameters);
  t.deepEqual(prefs[2]?.parameters, { src_ip: "192.0.2.1", ext_src_ip: "10.9.0.1" }, "unmapped src_ip left alone");
  t.is(res.mechanism?.parameters.src_ip, "10.1.0.5");
  t.is(res.mechanism?.parameters.dst_ip, "198.51.100.7");
  t.deepEqual(asked, ["10.9.0.1|10.2.0.7"]);

  const unknownDst = chain(seedRoute<NetworkServiceRequest, Connection>(r => r.connection), seedSwapIP(nodes, resolver, clusterInfo))(echo([], "10.2.0.99"));
  t.is((await firstValueFrom(unknownDst(seedRequest(REMOTE), ctx()))).mechanism?.parameters.dst_ip, "10.2.0.99", "unknown to the remote: kept");
});

test("swap helpers keep other parameters and never mutate", t => {
  const nodes = createNodeMap([{ name: "n1", internalIP: "10.1.0.5", externalIP: "203.0.113.5" }]);
  const m = { cls: "REMOTE", type: "VXLAN", parameters: { src_ip: "10.1.0.5", vni: "7" } };
  const out = swapOut(m, "10.9.0.1", nodes);
  t.is(out.parameters.vni, "7");
  t.deepEqual(m.parameters, { src_ip: "10.1.0.5", vni: "7" });
  const conn = seedRequest(REMOTE).connection!;
  t.is(restoreClientIPs(conn, "1.2.3.4"), conn, "no mechanism: unchanged");
});

test("record/forget: a record from Request to Close, keyed by the remote's id", async t => {
  const store = createMemoryConnectionStore();
  const request = chain(seedRoute<NetworkServiceRequest, Connection>(r => r.connection), recordConnection(store, () => 42))(echo());
  const conn = await firstValueFrom(request(seedRequest(REMOTE), ctx()));
  t.deepEqual(await store.get("remote-1"), { id: "remote-1", nextHop: "10.9.0.1:5001", networkService: "icmp-responder@domain-2", remoteNsm: REMOTE, updatedAt: 42 });
  const close = chain(forgetConnection(store))(() => of({}));
  await firstValueFrom(close(conn, ctx()));
  t.is(await store.get("remote-1"), undefined);
});

test("record: a failed Request leaves no record", async t => {
  const store = createMemoryConnectionStore();
  const failing: Handler<NetworkServiceRequest, Connection> = () => {
    throw new ProxyError(Code.UNAVAILABLE, "down");
  };
  const request = chain(seedRoute<NetworkServiceRequest, Connection>(r => r.connection), recordConnection(store))(failing);
  await t.throwsAsync(firstValueFrom(request(seedRequest(REMOTE), ctx())));
  t.deepEqual(await store.list(), []);
});
