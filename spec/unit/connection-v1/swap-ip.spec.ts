/** swap-ip server and client sides, and cluster-info labels. */
import test from "ava";
import { firstValueFrom, of } from "rxjs";
import { chain } from "../../../lib/pipeline/element.js";
import { createIpMap } from "../../../lib/nodes/ip-map.js";
import { sideOfRequest, swapIpClient, swapIpServer } from "../../../lib/planes/connection/v1/swap-ip.js";
import { clusterInfoLabels } from "../../../lib/planes/connection/v1/cluster-info.js";
import type { Connection } from "../../../generated/nsm/connection.js";
import type { NetworkServiceRequest } from "../../../generated/nsm/networkservice.js";
import { ctx, fwdRequest, vxlan } from "./_support.js";
import { frozen } from "../../support/values.js";

const map1 = createIpMap([["10.1.0.5", "203.0.113.5"]]);
const map2 = createIpMap([["10.2.0.7", "198.51.100.7"]]);

/** A next hop that selects the first preference and fills dst_ip, as the far domain does. */
function far(seen: NetworkServiceRequest[], dst = "10.2.0.7") {
  return (req: NetworkServiceRequest) => {
    seen.push(req);
    const m = req.mechanismPreferences[0]!;
    return of<Connection>({ ...req.connection!, mechanism: { ...m, parameters: { ...m.parameters, dst_ip: dst } } });
  };
}

test("proxy-1 (source side): src_ip mapped out in every preference and the current mechanism, restored back", async t => {
  const seen: NetworkServiceRequest[] = [];
  const handler = chain(swapIpServer(map1), swapIpClient(map1))(far(seen));
  const req = frozen(fwdRequest({ mechanism: vxlan({ src_ip: "10.1.0.5", dst_ip: "198.51.100.7" }) }, [vxlan({ src_ip: "10.1.0.5" }), vxlan({ src_ip: "10.1.0.6" })]));
  t.is(sideOfRequest(req), "source");
  const answer = await firstValueFrom(handler(req, ctx()));
  const out = seen[0]!;
  t.deepEqual(out.mechanismPreferences.map(m => m.parameters), [
    { src_ip: "203.0.113.5", orig_src_ip: "10.1.0.5" },
    { src_ip: "10.1.0.6", orig_src_ip: "10.1.0.6" },
  ], "an unmapped IP maps to itself, and is still marked as swapped");
  t.deepEqual(out.connection?.mechanism?.parameters, { src_ip: "203.0.113.5", orig_src_ip: "10.1.0.5", dst_ip: "198.51.100.7" });
  t.is(answer.mechanism?.parameters.src_ip, "10.1.0.5");
  t.is(answer.mechanism?.parameters.orig_src_ip, "");
  t.is(answer.mechanism?.parameters.dst_ip, "10.2.0.7", "proxy-1 does not touch dst_ip");
});

test("proxy-2 (far side): dst_ip cleared out, the answer's dst_ip mapped to external with orig_dst_ip internal", async t => {
  const seen: NetworkServiceRequest[] = [];
  const handler = chain(swapIpServer(map2), swapIpClient(map2))(far(seen));
  const req = fwdRequest({ mechanism: vxlan({ src_ip: "203.0.113.5", orig_src_ip: "10.1.0.5", dst_ip: "198.51.100.7", orig_dst_ip: "10.2.0.7" }) }, [
    vxlan({ src_ip: "203.0.113.5", orig_src_ip: "10.1.0.5" }),
  ]);
  t.is(sideOfRequest(req), "far");
  const answer = await firstValueFrom(handler(req, ctx()));
  t.deepEqual(seen[0]!.mechanismPreferences[0]?.parameters, { src_ip: "203.0.113.5", orig_src_ip: "10.1.0.5", dst_ip: "", orig_dst_ip: "" });
  t.is(seen[0]!.connection?.mechanism?.parameters.dst_ip, "");
  t.is(answer.mechanism?.parameters.dst_ip, "198.51.100.7");
  t.is(answer.mechanism?.parameters.orig_dst_ip, "10.2.0.7");
  t.is(answer.mechanism?.parameters.src_ip, "203.0.113.5", "the far side leaves src_ip for proxy-1 to restore");
});

test("an unmapped dst_ip on the far side stays as it is", async t => {
  const handler = chain(swapIpServer(createIpMap()))(far([], "10.2.0.99"));
  const answer = await firstValueFrom(handler(fwdRequest({}, [vxlan({ src_ip: "203.0.113.5", orig_src_ip: "10.1.0.5" })]), ctx()));
  t.is(answer.mechanism?.parameters.dst_ip, "10.2.0.99");
  t.is(answer.mechanism?.parameters.orig_dst_ip, "10.2.0.99");
});

test("no src_ip anywhere: nothing is swapped either way", async t => {
  const seen: NetworkServiceRequest[] = [];
  const handler = chain(swapIpServer(map2), swapIpClient(map2))(far(seen));
  const req = fwdRequest({}, [{ cls: "LOCAL", type: "KERNEL", parameters: {} }, vxlan({ src_ip: "" })]);
  t.is(sideOfRequest(req), undefined);
  const answer = await firstValueFrom(handler(req, ctx()));
  t.deepEqual(seen[0]!.mechanismPreferences, req.mechanismPreferences);
  t.deepEqual(answer.mechanism?.parameters, { dst_ip: "10.2.0.7" });
});

test("the last mechanism with a source decides the side of the answer", t => {
  t.is(sideOfRequest(fwdRequest({ mechanism: vxlan({ src_ip: "1.1.1.1", orig_src_ip: "10.0.0.1" }) }, [vxlan({ src_ip: "10.1.0.5" })])), "far");
  t.is(sideOfRequest(fwdRequest({}, [vxlan({ src_ip: "1.1.1.1", orig_src_ip: "10.0.0.1" }), vxlan({ src_ip: "10.1.0.5" })])), "source");
});

test("cluster-info: labels merged into the connection, a cluster label wins over the caller's", async t => {
  const seen: NetworkServiceRequest[] = [];
  const handler = chain(clusterInfoLabels({ clusterName: "cluster-2", app: "cluster" }))(far(seen));
  await firstValueFrom(handler(frozen(fwdRequest({ labels: { app: "nsc", keep: "me" } })), ctx()));
  t.deepEqual(seen[0]!.connection?.labels, { app: "cluster", keep: "me", clusterName: "cluster-2" });
  const none = chain(clusterInfoLabels({}))(far(seen));
  await firstValueFrom(none(fwdRequest({ labels: { app: "nsc" } }), ctx()));
  t.deepEqual(seen[1]!.connection?.labels, { app: "nsc" });
});
