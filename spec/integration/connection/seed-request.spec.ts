/**
 * Seed connection plane over real gRPC on loopback: client -> pnsmgr -> fake remote NSMgr, with the
 * remote domain's ClusterInfo answering external IPs.
 */
import test from "ava";
import { status } from "@grpc/grpc-js";
import { NetworkServiceService, type NetworkServiceRequest } from "../../../generated/nsm/networkservice.js";
import { SEED_LOCAL_NODE, SEED_REMOTE_NODE, seedRequest, vxlan } from "../../support/seed-requests.js";
import { callError, callUnary, closeAll } from "../../support/grpc.js";
import { startTestGateway, stopGateways } from "../../support/gateway.js";
import { startFakeClusterInfo, startFakeNsmgr } from "../../support/fake-nsmgr.js";

test.afterEach.always(async () => {
  await stopGateways();
  await closeAll();
});

const LOCAL_NODE = SEED_LOCAL_NODE;
const REMOTE_NODE = SEED_REMOTE_NODE;

async function domainPair() {
  const remote = await startFakeNsmgr({ name: "nsmgr-2", dstIP: REMOTE_NODE.internalIP });
  const clusterInfo = await startFakeClusterInfo([REMOTE_NODE]);
  const gateway = await startTestGateway({ remotePort: clusterInfo.port });
  gateway.nodes.replace([LOCAL_NODE]);
  return { remote, gateway, remoteNsm: `nsmgr-2@${remote.address}` };
}

test.serial("Request is routed by path segment 1 and rewritten both ways", async t => {
  const { remote, gateway, remoteNsm } = await domainPair();
  const answer = await callUnary(gateway.apiAddress, NetworkServiceService.request, seedRequest(remoteNsm));

  const seen = remote.requests[0];
  t.truthy(seen, "the remote NSMgr got the Request");
  t.is(seen?.connection?.networkService, "icmp-responder", "@domain stripped on the way out");
  t.deepEqual(seen?.connection?.path?.pathSegments.map(s => s.name), ["nsmgr-1", "nsmgr-2"], "segment 1 carries the bare remote name");
  t.is(seen?.mechanismPreferences.length, 2);
  for (const m of seen?.mechanismPreferences ?? []) {
    t.is(m.parameters.src_ip, LOCAL_NODE.externalIP, "every preference: src_ip is the node's external IP");
    t.is(m.parameters.orig_src_ip, LOCAL_NODE.internalIP, "every preference: orig_src_ip keeps the internal IP");
    t.is(m.parameters.ext_src_ip, "127.0.0.1", "every preference: ext_src_ip is the remote NSMgr's IP");
  }

  t.is(answer.networkService, "icmp-responder@domain-2", "service name restored");
  t.deepEqual(answer.path?.pathSegments.map(s => s.name), ["nsmgr-1", remoteNsm], "segment 1 restored as the client wrote it");
  t.is(answer.mechanism?.parameters.src_ip, LOCAL_NODE.internalIP, "src_ip restored");
  t.is(answer.mechanism?.parameters.dst_ip, REMOTE_NODE.externalIP, "dst_ip swapped to the remote's external IP");
  t.deepEqual([...remote.connections.keys()], [answer.id], "the id is the one the remote NSMgr assigned");
  t.deepEqual(answer.labels, { app: "nsc" });
});

test.serial("an unmapped src_ip is left alone and no orig_src_ip is invented", async t => {
  const { remote, gateway, remoteNsm } = await domainPair();
  await callUnary(gateway.apiAddress, NetworkServiceService.request, seedRequest(remoteNsm, {}, [vxlan("192.0.2.99")]));
  const params = remote.requests[0]?.mechanismPreferences[0]?.parameters;
  t.is(params?.src_ip, "192.0.2.99");
  t.is(params?.orig_src_ip, undefined);
});

test.serial("Close reaches the remote NSMgr with the bare names and forgets the connection", async t => {
  const { remote, gateway, remoteNsm } = await domainPair();
  const conn = await callUnary(gateway.apiAddress, NetworkServiceService.request, seedRequest(remoteNsm));
  t.is(remote.connections.size, 1);
  await callUnary(gateway.apiAddress, NetworkServiceService.close, conn);
  t.is(remote.closes.length, 1);
  t.is(remote.closes[0]?.id, conn.id);
  t.is(remote.closes[0]?.path?.pathSegments[1]?.name, "nsmgr-2");
  t.is(remote.closes[0]?.networkService, "icmp-responder");
  t.is(remote.connections.size, 0);
});

test.serial("refresh keeps the connection id", async t => {
  const { remote, gateway, remoteNsm } = await domainPair();
  const first = await callUnary(gateway.apiAddress, NetworkServiceService.request, seedRequest(remoteNsm));
  const again = await callUnary(gateway.apiAddress, NetworkServiceService.request, seedRequest(remoteNsm, { id: first.id }));
  t.is(again.id, first.id);
  t.is(remote.connections.size, 1);
});

test.serial("channels to the next hop are reused, not dialled per call", async t => {
  const { remote, gateway, remoteNsm } = await domainPair();
  for (let i = 0; i < 5; i++) await callUnary(gateway.apiAddress, NetworkServiceService.request, seedRequest(remoteNsm));
  t.is(new Set(remote.peers).size, 1, `one client connection for 5 Requests, saw ${remote.peers.join(", ")}`);
});

test.serial("IPv6 literal NSMgr address [::1]:port works", async t => {
  const gateway = await startTestGateway({ remotePort: 1 });
  // The guard refuses loopback in any spelling on the gateway's own ports ("own listener"), and the
  // kernel may give the [::1] stand-in a port number one of the gateway's IPv4 listeners has too.
  const portOf = (address: string) => Number(address.slice(address.lastIndexOf(":") + 1));
  const ownPorts = new Set([gateway.apiAddress, gateway.registryAddress, gateway.v1Address, gateway.adminAddress].map(portOf));
  let remote = await startFakeNsmgr({ name: "nsmgr-6", host: "::1" });
  for (let tries = 0; tries < 5 && ownPorts.has(portOf(remote.address)); tries++) remote = await startFakeNsmgr({ name: "nsmgr-6", host: "::1" });
  const remoteNsm = `nsmgr-6@${remote.address}`;
  t.regex(remoteNsm, /^nsmgr-6@\[::1\]:\d+$/);
  const answer = await callUnary(gateway.apiAddress, NetworkServiceService.request, seedRequest(remoteNsm));
  t.is(remote.requests[0]?.mechanismPreferences[0]?.parameters.ext_src_ip, "::1");
  t.is(answer.path?.pathSegments[1]?.name, remoteNsm);
});

test.serial("bad Requests get INVALID_ARGUMENT with a message saying what is wrong", async t => {
  const { gateway, remoteNsm } = await domainPair();
  const cases: [string, NetworkServiceRequest, RegExp][] = [
    ["no connection", { connection: undefined, mechanismPreferences: [vxlan("10.1.0.5")] }, /no connection/],
    ["short path", seedRequest(remoteNsm, { path: { index: 0, pathSegments: [{ name: "nsmgr-1", id: "", token: "", expires: undefined, metrics: {} }] } }), /1 segment/],
    ["no path", seedRequest(remoteNsm, { path: undefined }), /0 segment/],
    ["no @ in segment 1", seedRequest("nsmgr-2"), /has no "@"/],
    ["no port", seedRequest("nsmgr-2@127.0.0.1"), /not host:port/],
    ["bad port", seedRequest("nsmgr-2@127.0.0.1:99999"), /not in 1-65535/],
    ["unbracketed IPv6", seedRequest("nsmgr-2@::1"), /not host:port|IPv6/],
    ["empty preferences", seedRequest(remoteNsm, {}, []), /no mechanism preferences/],
  ];
  for (const [what, req, message] of cases) {
    const error = await callError(gateway.apiAddress, NetworkServiceService.request, req);
    t.is(error.code, status.INVALID_ARGUMENT, what);
    t.regex(error.details, message, what);
  }
  const closeError = await callError(gateway.apiAddress, NetworkServiceService.close, seedRequest("no-at").connection!);
  t.is(closeError.code, status.INVALID_ARGUMENT);
});

test.serial("a remote NSMgr that is down gives UNAVAILABLE naming it", async t => {
  const remote = await startFakeNsmgr();
  const address = remote.address;
  remote.server.kill();
  const gateway = await startTestGateway();
  const error = await callError(gateway.apiAddress, NetworkServiceService.request, seedRequest(`nsmgr-2@${address}`), { deadlineMs: 5000 });
  t.is(error.code, status.UNAVAILABLE);
  t.true(error.details.includes(address), error.details);
});

test.serial("remote errors keep their code", async t => {
  const remote = await startFakeNsmgr({ failWith: { code: status.PERMISSION_DENIED, details: "not you" } });
  const gateway = await startTestGateway();
  const error = await callError(gateway.apiAddress, NetworkServiceService.request, seedRequest(`nsmgr-2@${remote.address}`));
  t.is(error.code, status.PERMISSION_DENIED);
  t.regex(error.details, /not you/);
});

test.serial("the caller's deadline reaches the next hop, which sees the call cancelled", async t => {
  const remote = await startFakeNsmgr({ hang: true });
  const gateway = await startTestGateway();
  const started = Date.now();
  const error = await callError(gateway.apiAddress, NetworkServiceService.request, seedRequest(`nsmgr-2@${remote.address}`), { deadlineMs: 300 });
  t.is(error.code, status.DEADLINE_EXCEEDED);
  t.true(Date.now() - started < 2000);
  await new Promise(r => setTimeout(r, 200));
  t.is(remote.cancelled(), 1, "the upstream call ended too");
});

test.serial("a call without a deadline gets the configured one instead of hanging", async t => {
  const remote = await startFakeNsmgr({ hang: true });
  const gateway = await startTestGateway({ callTimeoutMs: 300 });
  const started = Date.now();
  const error = await callError(gateway.apiAddress, NetworkServiceService.request, seedRequest(`nsmgr-2@${remote.address}`), { deadlineMs: Infinity });
  t.is(error.code, status.DEADLINE_EXCEEDED);
  t.true(Date.now() - started < 3000, "the gateway's own deadline ended it");
  await new Promise(r => setTimeout(r, 200));
  t.is(remote.cancelled(), 1, "and the upstream call with it");
});

test.serial("an oversized message is refused with RESOURCE_EXHAUSTED, and the gateway keeps serving", async t => {
  const { remote, remoteNsm } = await domainPair();
  const small = await startTestGateway({ maxMessageBytes: 64 * 1024, remotePort: 1 });
  const huge = seedRequest(remoteNsm, { labels: { blob: "x".repeat(128 * 1024) } });
  const error = await callError(small.apiAddress, NetworkServiceService.request, huge);
  t.is(error.code, status.RESOURCE_EXHAUSTED);
  await callUnary(small.apiAddress, NetworkServiceService.request, seedRequest(remoteNsm));
  t.is(remote.requests.length, 1);
});
