/**
 * NSM v1 Request / Close / MonitorConnections across two proxies over real gRPC on 127.0.0.1:
 * fwd-1 (the test) → proxy-1 (learned route) → proxy-2 (real gateway, discovers "nse") → nsmgr-2 (fake).
 */
import test from "ava";
import { status } from "@grpc/grpc-js";
import { type ConnectionEvent, ConnectionEventType, MonitorConnectionService, State } from "../../../generated/nsm/connection.js";
import { NetworkServiceService } from "../../../generated/nsm/networkservice.js";
import { verifyJwt } from "../../../lib/tokens/jwt.js";
import { SANDBOX_SECRET } from "../../../lib/tokens/hs256.js";
import { timestampMs } from "../../../lib/tokens/time.js";
import { callError, callUnary, closeAll, openServerStream, type StreamHandle } from "../../support/grpc.js";
import { waitFor } from "../../support/wait.js";
import { freePort } from "../../support/ports.js";
import { DOMAIN1_NODE, DOMAIN2_NODE, fwdRequest, fwdToken, startTopology } from "./_topology.js";
import { segment } from "../../support/wire.js";

test.afterEach.always(async () => {
  await closeAll();
});

const EIGHT = ["nsc", "nsmgr-1", "fwd-1", "proxy-1", "proxy-2", "nsmgr-2", "fwd-2", "nse"];
const watchFwd1 = (address: string): StreamHandle<ConnectionEvent> =>
  openServerStream(address, MonitorConnectionService.monitorConnections, { pathSegments: [segment("fwd-1", "fwd-1-id")], networkServices: [] });

test.serial("Request: 8 segments, ids, tokens and expiries, names stripped at proxy-2 and restored, IPs swapped both ways, cluster labels", async t => {
  const { proxy1, nsmgr2, registry2 } = await startTopology(t);
  const answer = await callUnary(proxy1.v1Address, NetworkServiceService.request, fwdRequest(), { metadata: await fwdToken() });

  t.deepEqual(answer.path?.pathSegments.map(s => s.name), EIGHT);
  t.is(answer.id, "fwd-1-id", "the caller's id");
  t.is(answer.path?.index, 2, "the caller's index");
  t.is(answer.state, State.UP);
  const ids = answer.path!.pathSegments.map(s => s.id);
  t.is(new Set(ids).size, 8, "every hop has its own id");
  t.is(answer.networkService, "ns@domain-2");
  t.is(answer.networkServiceEndpointName, "nse@domain-2");

  const atNsmgr2 = nsmgr2.requests[0]!.message.connection!;
  t.is(atNsmgr2.networkServiceEndpointName, "nse", "proxy-2 strips the domain");
  t.is(atNsmgr2.networkService, "ns");
  t.is(atNsmgr2.id, ids[4] ?? "missing", "nsmgr-2 is called with proxy-2's segment id");
  t.is(atNsmgr2.path?.index, 4);
  t.deepEqual(registry2.queries.map(q => q.networkServiceEndpoint?.name), ["nse"]);
  for (const i of [2, 3, 4]) {
    const s = atNsmgr2.path!.pathSegments[i]!;
    t.true((timestampMs(s.expires) ?? 0) > Date.now(), `segment ${s.name} has a future expiry`);
    await t.notThrowsAsync(verifyJwt(s.token, SANDBOX_SECRET), `segment ${s.name} carries an HS256 token`);
  }
  t.is(nsmgr2.requests[0]!.metadata.get("nsm-client-token"), atNsmgr2.path!.pathSegments[4]!.token, "proxy-2 sends its own token in metadata");

  t.deepEqual(nsmgr2.requests[0]!.message.mechanismPreferences[0]?.parameters, { src_ip: DOMAIN1_NODE.external, orig_src_ip: DOMAIN1_NODE.internal, dst_ip: "", orig_dst_ip: "" });
  t.deepEqual(answer.mechanism?.parameters, { src_ip: DOMAIN1_NODE.internal, orig_src_ip: "", dst_ip: DOMAIN2_NODE.external, orig_dst_ip: DOMAIN2_NODE.internal });
  t.deepEqual(atNsmgr2.labels, { app: "nsc", clusterName: "cluster-2" });
  t.is(answer.labels.clusterName, "cluster-2");
});

test.serial("refresh reuses every id; Close goes through both proxies to nsmgr-2", async t => {
  const { proxy1, nsmgr2 } = await startTopology(t);
  const first = await callUnary(proxy1.v1Address, NetworkServiceService.request, fwdRequest(), { metadata: await fwdToken() });
  const second = await callUnary(proxy1.v1Address, NetworkServiceService.request, { connection: first, mechanismPreferences: fwdRequest().mechanismPreferences }, { metadata: await fwdToken() });
  t.deepEqual(second.path?.pathSegments.map(s => s.id), first.path?.pathSegments.map(s => s.id));
  t.is(nsmgr2.connections.size, 1, "the same connection at nsmgr-2");
  t.is(nsmgr2.requests[1]!.message.connection?.id, first.path?.pathSegments[4]?.id);

  await callUnary(proxy1.v1Address, NetworkServiceService.close, second, { metadata: await fwdToken() });
  t.is(nsmgr2.closes.length, 1);
  const closed = nsmgr2.closes[0]!.message;
  t.is(closed.id, first.path?.pathSegments[4]?.id ?? "missing", "nsmgr-2 is closed with proxy-2's segment id");
  t.is(closed.networkServiceEndpointName, "nse");
  t.is(nsmgr2.connections.size, 0);
  t.truthy(nsmgr2.closes[0]!.metadata.get("nsm-client-token"));
});

test.serial("monitor: initial state at once, UPDATE on Request, DOWN when nsmgr-2's monitor breaks, DELETE on Close", async t => {
  const { proxy1, nsmgr2 } = await startTopology(t);
  const stream = watchFwd1(proxy1.v1Address);
  const initial = await stream.next();
  t.is(initial.type, ConnectionEventType.INITIAL_STATE_TRANSFER);
  t.deepEqual(initial.connections, {});

  const answer = await callUnary(proxy1.v1Address, NetworkServiceService.request, fwdRequest(), { metadata: await fwdToken() });
  const ours = answer.path!.pathSegments[3]!.id;
  const up = await stream.next();
  t.is(up.type, ConnectionEventType.UPDATE);
  t.deepEqual(Object.keys(up.connections), [ours], "keyed by proxy-1's segment id");
  t.is(up.connections[ours]?.state, State.UP);
  t.is(up.connections[ours]?.path?.index, 3, "in proxy-1's frame");
  t.is(up.connections[ours]?.networkServiceEndpointName, "nse@domain-2");

  await waitFor(() => nsmgr2.monitorCount() === 1, 3000, "proxy-2 monitoring nsmgr-2");
  t.deepEqual(nsmgr2.monitorSelectors[0]?.pathSegments.map(s => [s.name, s.id]), [["proxy-2", answer.path!.pathSegments[4]!.id]]);
  nsmgr2.breakMonitors();
  const down = await stream.next();
  t.is(down.type, ConnectionEventType.UPDATE);
  t.is(down.connections[ours]?.state, State.DOWN);

  await callUnary(proxy1.v1Address, NetworkServiceService.close, answer, { metadata: await fwdToken() });
  const deleted = await stream.next();
  t.is(deleted.type, ConnectionEventType.DELETE);
  t.deepEqual(Object.keys(deleted.connections), [ours]);
  stream.cancel();
});

test.serial("monitor: an endpoint that dies below nsmgr-2 shows as DOWN at proxy-1; a refresh heals it", async t => {
  const { proxy1, nsmgr2 } = await startTopology(t);
  const stream = watchFwd1(proxy1.v1Address);
  await stream.next();
  const answer = await callUnary(proxy1.v1Address, NetworkServiceService.request, fwdRequest(), { metadata: await fwdToken() });
  const ours = answer.path!.pathSegments[3]!.id;
  await stream.next();
  await waitFor(() => nsmgr2.monitorCount() === 1, 3000, "proxy-2 monitoring nsmgr-2");
  await new Promise(r => setTimeout(r, 100));

  nsmgr2.endpointDies(answer.path!.pathSegments[5]!.id);
  const down = await stream.next();
  t.is(down.type, ConnectionEventType.UPDATE, "a DELETE below is a DOWN here: only the client closes");
  t.is(down.connections[ours]?.state, State.DOWN);

  await callUnary(proxy1.v1Address, NetworkServiceService.request, { connection: answer, mechanismPreferences: fwdRequest().mechanismPreferences }, { metadata: await fwdToken() });
  const healed = await stream.next();
  t.is(healed.connections[ours]?.state, State.UP);
  t.is(nsmgr2.connections.size, 1);
  stream.cancel();
});

test.serial("expiry at proxy-1: no refresh before fwd-1's token expires closes down to nsmgr-2 and reports DELETE", async t => {
  const { proxy1, nsmgr2 } = await startTopology(t);
  const stream = watchFwd1(proxy1.v1Address);
  await stream.next();
  await callUnary(proxy1.v1Address, NetworkServiceService.request, fwdRequest(), { metadata: await fwdToken(1200) });
  t.is((await stream.next()).type, ConnectionEventType.UPDATE);
  const deleted = await stream.next(3000);
  t.is(deleted.type, ConnectionEventType.DELETE);
  await waitFor(() => nsmgr2.closes.length === 1, 2000, "Close at nsmgr-2");
  t.is(nsmgr2.connections.size, 0);
  stream.cancel();
});

test.serial("expiry at proxy-2: proxy-1's short token lifetime lets proxy-2 close nsmgr-2; proxy-1 reports DOWN", async t => {
  const { proxy1, nsmgr2 } = await startTopology(t, { proxy1TokenLifetimeMs: 1000 });
  const stream = watchFwd1(proxy1.v1Address);
  await stream.next();
  const answer = await callUnary(proxy1.v1Address, NetworkServiceService.request, fwdRequest(), { metadata: await fwdToken() });
  await stream.next();
  const expires = timestampMs(nsmgr2.requests[0]!.message.connection!.path!.pathSegments[3]!.expires) ?? Infinity;
  t.true(expires - Date.now() <= 1000, "proxy-1's segment expires within its token lifetime");
  const down = await stream.next(3000);
  t.is(down.connections[answer.path!.pathSegments[3]!.id]?.state, State.DOWN);
  t.is(nsmgr2.closes.length, 1);
  stream.cancel();
});

test.serial("errors: unknown NSE NOT_FOUND (from proxy-2's registry), unreachable next hop UNAVAILABLE, malformed input INVALID_ARGUMENT; the proxy keeps serving", async t => {
  const dead = await freePort();
  const { proxy1, proxy2Address } = await startTopology(t, { extraRoutes: proxy2 => ({ "missing@domain-2": proxy2, "dead@domain-2": `tcp://127.0.0.1:${dead}` }) });
  const request = NetworkServiceService.request;

  const missing = await callError(proxy1.v1Address, request, fwdRequest({ networkServiceEndpointName: "missing@domain-2" }), { metadata: await fwdToken() });
  t.is(missing.code, status.NOT_FOUND, "proxy-2's NOT_FOUND kept by proxy-1");
  t.regex(missing.details, /"missing" not found/);
  t.is((await callError(proxy2Address, request, fwdRequest({ networkServiceEndpointName: "missing" }), { metadata: await fwdToken() })).code, status.NOT_FOUND);
  const noRegistry = await callError(proxy1.v1Address, request, fwdRequest({ networkServiceEndpointName: "nobody@domain-3" }), { metadata: await fwdToken() });
  t.is(noRegistry.code, status.UNAVAILABLE, "no learned route and no local registry at proxy-1");
  const unreachable = await callError(proxy1.v1Address, request, fwdRequest({ networkServiceEndpointName: "dead@domain-2" }), { metadata: await fwdToken() });
  t.is(unreachable.code, status.UNAVAILABLE);

  t.is((await callError(proxy1.v1Address, request, fwdRequest({ id: "not-fwd-1" }), { metadata: await fwdToken() })).code, status.INVALID_ARGUMENT);
  const noExpiry = await callError(proxy1.v1Address, request, fwdRequest());
  t.is(noExpiry.code, status.INVALID_ARGUMENT);
  t.regex(noExpiry.details, /expiration for the previous path segment cannot be nil/);
  t.is((await callError(proxy1.v1Address, request, { connection: undefined, mechanismPreferences: [] })).code, status.INVALID_ARGUMENT);
  t.is((await callError(proxy1.v1Address, request, fwdRequest({ path: { index: 9, pathSegments: [segment("a", "fwd-1-id")] } }), { metadata: await fwdToken() })).code, status.INVALID_ARGUMENT);
  t.is((await callError(proxy1.v1Address, NetworkServiceService.close, { ...fwdRequest().connection!, path: { index: 7, pathSegments: [segment("x", "y")] } })).code, status.INVALID_ARGUMENT);

  const ok = await callUnary(proxy1.v1Address, request, fwdRequest(), { metadata: await fwdToken() });
  t.is(ok.path?.pathSegments.length, 8, "still serving after all that");
});
