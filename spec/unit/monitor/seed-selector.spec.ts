import test from "ava";
import { routeSeedSelector } from "../../../lib/planes/monitor/seed-selector.js";
import { seedEventView } from "../../../lib/planes/monitor/seed-event-view.js";
import { createMemoryConnectionStore } from "../../../lib/state/memory/records.js";
import type { RemoteClusterInfo } from "../../../lib/domains/remote-cluster-info.js";
import { type Connection, ConnectionEventType } from "../../../generated/nsm/connection.js";
import { Code, ProxyError } from "../../../lib/pipeline/errors.js";

const seg = (name: string) => ({ name, id: "x", token: "t", expires: undefined, metrics: {} });

test("the seed selector routes by segment 1 and asks upstream with bare names only", t => {
  const route = routeSeedSelector({ pathSegments: [seg("nsmgr-1"), seg("nsmgr-2@[::1]:5001")], networkServices: ["svc"] });
  t.is(route.remote.address, "[::1]:5001");
  t.deepEqual(route.upstreamSelector.pathSegments.map(s => [s.name, s.id, s.token]), [["nsmgr-1", "", ""], ["nsmgr-2", "", ""]]);
  t.deepEqual(route.upstreamSelector.networkServices, ["svc"]);
  const short = t.throws(() => routeSeedSelector({ pathSegments: [seg("a")], networkServices: [] }), { instanceOf: ProxyError });
  t.is(short?.code, Code.INVALID_ARGUMENT);
  t.throws(() => routeSeedSelector({ pathSegments: [seg(""), seg("n@h:1")], networkServices: [] }), { message: /segment 0 has no name/ });
});

test("events are shown in the client's terms; unknown connections keep their service name", async t => {
  const store = createMemoryConnectionStore();
  await store.put({ id: "c1", nextHop: "10.0.0.2:5001", networkService: "svc@domain-2", remoteNsm: "nsmgr-2@10.0.0.2:5001", updatedAt: 1 });
  const clusterInfo: RemoteClusterInfo = { cached: (host, ip) => (host === "10.0.0.2" && ip === "10.2.0.7" ? "198.51.100.7" : undefined), externalIP: async () => undefined };
  const conn = (id: string): Connection => ({
    id,
    networkService: "svc",
    mechanism: { cls: "REMOTE", type: "VXLAN", parameters: { src_ip: "203.0.113.5", orig_src_ip: "10.1.0.5", dst_ip: "10.2.0.7" } },
    context: undefined,
    labels: {},
    path: { index: 1, pathSegments: [seg("nsmgr-1"), seg("nsmgr-2")] },
    networkServiceEndpointName: "nse",
    payload: "",
    state: 0,
  });
  const view = { remoteName: "nsmgr-2", written: "nsmgr-2@10.0.0.2:5001", remoteIP: "10.0.0.2" };
  const event = { type: ConnectionEventType.UPDATE, connections: { c1: conn("c1"), c2: conn("c2") } };
  const shown = await seedEventView(event, view, store, clusterInfo);
  t.is(shown.connections.c1?.networkService, "svc@domain-2");
  t.is(shown.connections.c2?.networkService, "svc");
  for (const c of Object.values(shown.connections)) {
    t.is(c.path?.pathSegments[1]?.name, "nsmgr-2@10.0.0.2:5001");
    t.is(c.mechanism?.parameters.src_ip, "10.1.0.5");
    t.is(c.mechanism?.parameters.dst_ip, "198.51.100.7");
  }
  t.is(event.connections.c1.path?.pathSegments[1]?.name, "nsmgr-2", "the upstream event is not mutated");
});
