/** route: learned route (names untouched) or discovery by target name (names stripped and restored). */
import test from "ava";
import { firstValueFrom, of, throwError } from "rxjs";
import { chain } from "../../../lib/pipeline/element.js";
import { Code, ProxyError } from "../../../lib/pipeline/errors.js";
import { nextHop } from "../../../lib/pipeline/forward.js";
import { createMemoryRouteStore } from "../../../lib/state/memory/records.js";
import { routeClose, routeRequest } from "../../../lib/planes/connection/v1/route.js";
import { type CallState, callState } from "../../../lib/planes/connection/v1/connection-table.js";
import type { NseDiscovery } from "../../../lib/planes/connection/v1/discover-nse.js";
import { dialAddressOf } from "../../../lib/domains/nsm-url.js";
import type { Connection } from "../../../generated/nsm/connection.js";
import type { NetworkServiceRequest } from "../../../generated/nsm/networkservice.js";
import { ctx, errorOf, fwdConnection, fwdRequest } from "./_support.js";
import { frozen } from "../../support/values.js";

function discovery(known: Record<string, string>): NseDiscovery & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    urlOf: name => {
      asked.push(name);
      const url = known[name];
      return url ? of(url) : throwError(() => new ProxyError(Code.NOT_FOUND, `network service endpoint "${name}" not found`));
    },
  };
}

function recorder() {
  const seen: { req: NetworkServiceRequest; hop: string | undefined }[] = [];
  const terminal = (req: NetworkServiceRequest, c: ReturnType<typeof ctx>) => {
    seen.push({ req, hop: c.get(nextHop) });
    return of({ ...req.connection!, labels: { answered: "yes" } });
  };
  return { seen, terminal };
}

test("a learned route is dialled with the names untouched; the route is written into the call state", async t => {
  const routes = createMemoryRouteStore();
  await routes.set("nse@domain-2", "tcp://10.9.0.2:5004");
  const found = discovery({});
  const { seen, terminal } = recorder();
  const call: CallState = { entry: undefined };
  const answer = await firstValueFrom(chain(routeRequest({ routes, discovery: found }))(terminal)(frozen(fwdRequest()), ctx().with(callState, call)));
  t.is(seen[0]?.hop, "10.9.0.2:5004");
  t.is(seen[0]?.req.connection?.networkServiceEndpointName, "nse@domain-2");
  t.is(seen[0]?.req.connection?.networkService, "ns@domain-2");
  t.deepEqual(found.asked, [], "no registry lookup");
  t.deepEqual(call.route, { nextHop: "10.9.0.2:5004", networkServiceEndpointName: "nse@domain-2", networkService: "ns@domain-2", via: "learned" });
  t.is(answer.labels.answered, "yes");
});

test("no learned route: names become their targets, the NSE is discovered by name, names come back as written", async t => {
  const found = discovery({ nse: "tcp://127.0.0.1:6001" });
  const { seen, terminal } = recorder();
  const answer = await firstValueFrom(chain(routeRequest({ routes: createMemoryRouteStore(), discovery: found }))(terminal)(fwdRequest(), ctx()));
  t.deepEqual(found.asked, ["nse"]);
  t.is(seen[0]?.hop, "127.0.0.1:6001");
  t.is(seen[0]?.req.connection?.networkServiceEndpointName, "nse");
  t.is(seen[0]?.req.connection?.networkService, "ns");
  t.is(answer.networkServiceEndpointName, "nse@domain-2");
  t.is(answer.networkService, "ns@domain-2");
});

test("no NSE name is INVALID_ARGUMENT, an unknown NSE NOT_FOUND, a route to ourselves FAILED_PRECONDITION", async t => {
  const { terminal } = recorder();
  const handler = chain(routeRequest({ routes: createMemoryRouteStore(), discovery: discovery({ self: "tcp://10.0.0.1:5004" }), selfUrl: "tcp://10.0.0.1:5004" }))(terminal);
  t.is((await errorOf(handler(fwdRequest({ networkServiceEndpointName: "" }), ctx()))).code, Code.INVALID_ARGUMENT);
  t.is((await errorOf(handler(fwdRequest({ networkServiceEndpointName: "ghost@domain-2" }), ctx()))).code, Code.NOT_FOUND);
  t.is((await errorOf(handler(fwdRequest({ networkServiceEndpointName: "self" }), ctx()))).code, Code.FAILED_PRECONDITION);
});

test("Close uses the route stored with the connection, without asking anyone", async t => {
  const found = discovery({});
  const closed: { conn: Connection; hop: string | undefined }[] = [];
  const handler = chain(routeClose({ routes: createMemoryRouteStore(), discovery: found }))((conn, c) => {
    closed.push({ conn, hop: c.get(nextHop) });
    return of({});
  });
  const stored = { nextHop: "127.0.0.1:6001", networkServiceEndpointName: "nse", networkService: "ns", via: "discovered" as const };
  await firstValueFrom(handler(fwdConnection(), ctx().with(callState, { entry: undefined, stored })));
  t.deepEqual(found.asked, []);
  t.is(closed[0]?.hop, "127.0.0.1:6001");
  t.is(closed[0]?.conn.networkServiceEndpointName, "nse");
  t.is(closed[0]?.conn.networkService, "ns");
});

test("NSM URLs: tcp://host:port and host:port are dialled, anything else is UNAVAILABLE", t => {
  t.is(dialAddressOf("tcp://10.0.0.1:5004", "x"), "10.0.0.1:5004");
  t.is(dialAddressOf("tcp://[fd00::1]:5004", "x"), "[fd00::1]:5004");
  t.is(dialAddressOf("nsmgr:5001", "x"), "nsmgr:5001");
  for (const bad of ["unix:///var/lib/nsm.sock", "tcp://nohost", "tcp://:5004", ""]) {
    t.is((t.throws(() => dialAddressOf(bad, "x")) as ProxyError).code, Code.UNAVAILABLE, bad);
  }
});
