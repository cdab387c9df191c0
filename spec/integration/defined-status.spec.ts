/**
 * The input cases that used to end badly, each answered at once with a defined status: a huge
 * nodeName (its NOT_FOUND echo never arrived and hung the connection), a 1 MiB name in v1
 * Register/Unregister (hung until the deadline), a v1 own segment with an empty id (INTERNAL), a seed
 * segment 1 naming this proxy, and a v1 NSE registered at this proxy's own listener under other
 * spellings (dialled itself until the deadline; now the inner call sees its own segment: a loop).
 */
import test from "ava";
import { status } from "@grpc/grpc-js";
import { ClusterInfoService } from "../../generated/seed/clusterinfo.js";
import { NetworkServiceService } from "../../generated/nsm/networkservice.js";
import { NetworkService, NetworkServiceEndpoint, NetworkServiceEndpointRegistryService, NetworkServiceRegistryService } from "../../generated/nsm/registry.js";
import { HealthCheckResponse_ServingStatus, HealthService } from "../../generated/nsm/health.js";
import { callError, callUnary, closeAll } from "../support/grpc.js";
import { startTestGateway, stopGateways } from "../support/gateway.js";
import { seedRequest } from "../support/seed-requests.js";
import { fwdRequest, fwdToken } from "./connection-v1/_topology.js";
import { segment } from "../support/wire.js";

test.afterEach.always(async () => {
  await stopGateways();
  await closeAll();
});

async function timed<T>(call: () => Promise<T>): Promise<[T, number]> {
  const started = Date.now();
  const value = await call();
  return [value, Date.now() - started];
}

test.serial("a 100 KB nodeName: INVALID_ARGUMENT with a short message, and the next call on the connection is answered", async t => {
  const gateway = await startTestGateway();
  const [error, ms] = await timed(() => callError(gateway.apiAddress, ClusterInfoService.getNodeIpConfiguration, { nodeName: "n".repeat(100_000), internalIP: "", externalIP: "" }, { deadlineMs: 3000 }));
  t.is(error.code, status.INVALID_ARGUMENT);
  t.true(error.details.length < 200, error.details);
  t.true(ms < 1000, `${ms} ms`);
  const next = await callError(gateway.apiAddress, ClusterInfoService.getNodeIpConfiguration, { nodeName: "unknown-node", internalIP: "", externalIP: "" }, { deadlineMs: 3000 });
  t.is(next.code, status.NOT_FOUND);
  t.is((await callUnary(gateway.apiAddress, HealthService.check, { service: "" })).status, HealthCheckResponse_ServingStatus.SERVING);
});

test.serial("a 1 MiB name in v1 Register and Unregister: INVALID_ARGUMENT at once", async t => {
  const gateway = await startTestGateway();
  const name = `${"m".repeat(1 << 20)}@domain-2`;
  const nse = NetworkServiceEndpoint.fromPartial({ name, url: "tcp://127.0.0.1:1" });
  const ns = NetworkService.fromPartial({ name });
  const calls = [
    () => callError(gateway.v1Address, NetworkServiceRegistryService.register, ns, { deadlineMs: 3000 }),
    () => callError(gateway.v1Address, NetworkServiceRegistryService.unregister, ns, { deadlineMs: 3000 }),
    () => callError(gateway.v1Address, NetworkServiceEndpointRegistryService.register, nse, { deadlineMs: 3000 }),
    () => callError(gateway.v1Address, NetworkServiceEndpointRegistryService.unregister, nse, { deadlineMs: 3000 }),
  ];
  for (const call of calls) {
    const [error, ms] = await timed(call);
    t.is(error.code, status.INVALID_ARGUMENT, error.details);
    t.regex(error.details, /name is 1048585 characters long; at most 512/);
    t.true(ms < 1500, `${ms} ms`);
  }
});

test.serial("a v1 Request whose own segment has an empty id: INVALID_ARGUMENT, not INTERNAL", async t => {
  const gateway = await startTestGateway({ name: "proxy-2" });
  const base = fwdRequest();
  const request = { ...base, connection: { ...base.connection!, path: { index: 2, pathSegments: [...base.connection!.path!.pathSegments, segment("proxy-2", "")] } } };
  const error = await callError(gateway.v1Address, NetworkServiceService.request, request, { metadata: await fwdToken(), deadlineMs: 3000 });
  t.is(error.code, status.INVALID_ARGUMENT);
  t.regex(error.details, /path segment 3 \(this proxy, "proxy-2"\) has an empty id/);
});

test.serial("a seed Request whose segment 1 names this proxy's own address is refused as a loop", async t => {
  const gateway = await startTestGateway({ advertisedAddress: "pnsmgr-svc:5006" });
  const error = await callError(gateway.apiAddress, NetworkServiceService.request, seedRequest("nsmgr-2@PNSMGR-svc:5006"), { deadlineMs: 3000 });
  t.is(error.code, status.FAILED_PRECONDITION);
  t.regex(error.details, /^loop: /);
});

test.serial("a v1 NSE registered at this proxy's own listener under another spelling: no self-dial, answered at once (the guard's own-listener rule or the loop check)", async t => {
  const gateway = await startTestGateway({ name: "proxy-self" });
  const port = gateway.v1Address.split(":").at(-1);
  for (const host of ["localhost", "[::ffff:127.0.0.1]", "127.0.0.1"]) {
    const nse = `nse-self-${host}@domain-x`;
    await gateway.routes.set(nse, `tcp://${host}:${port}`);
    const metadata = await fwdToken();
    const [error, ms] = await timed(() => callError(gateway.v1Address, NetworkServiceService.request, fwdRequest({ networkServiceEndpointName: nse }), { metadata, deadlineMs: 5000 }));
    t.true(error.code === status.FAILED_PRECONDITION || error.code === status.PERMISSION_DENIED, `${host}: ${status[error.code]} ${error.details}`);
    t.log(`${host}: ${status[error.code]} in ${ms} ms: ${error.details}`);
    t.regex(error.details, /loop|routes back to this proxy|rule own listener/, host);
    t.true(ms < 1500, `${host}: ${ms} ms`);
  }
});
