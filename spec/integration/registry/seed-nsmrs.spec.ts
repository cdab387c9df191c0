/**
 * v0 NSE registration over real gRPC on loopback: caller -> pnsmgr -> fake NSMRS (the floating
 * registry). RegisterNSE / RemoveNSE / BulkRegisterNSE, and the floating Find through NSMRS.
 */
import test from "ava";
import { status } from "@grpc/grpc-js";
import { NSERegistration, NetworkServiceDiscoveryService, NetworkServiceRegistryService } from "../../../generated/seed/registry.js";
import { callError, callUnary, closeAll } from "../../support/grpc.js";
import { waitFor } from "../../support/wait.js";
import { startTestGateway, stopGateways } from "../../support/gateway.js";
import { closeBidiStreams, openBidiStream, startFakeNsmrs } from "../../support/seed-registry-fakes.js";

test.afterEach.always(async () => {
  try {
    await closeBidiStreams();
  } finally {
    await stopGateways();
    await closeAll();
  }
});

const REGISTER = NetworkServiceRegistryService.registerNse;
const BULK = NetworkServiceRegistryService.bulkRegisterNse;
const REMOVE = NetworkServiceRegistryService.removeNse;
const FIND = NetworkServiceDiscoveryService.findNetworkService;

const NODE_1 = { name: "node-1", internalIP: "10.0.0.1", externalIP: "203.0.113.1" };
const NODE_2 = { name: "node-2", internalIP: "10.0.0.2", externalIP: "203.0.113.2" };

const registration = (nse: string, nsm = { name: "node-1", url: "10.0.0.1:5001" }, service = "icmp-responder") =>
  NSERegistration.fromPartial({
    networkService: { name: service, payload: "IP" },
    networkServiceManager: nsm,
    networkServiceEndpoint: { name: nse, networkServiceName: service, networkServiceManagerName: nsm.name, labels: { app: "icmp" } },
  });

async function withNsmrs(overrides = {}) {
  const nsmrs = await startFakeNsmrs();
  const gateway = await startTestGateway({ nsmrsAddress: nsmrs.address, ...overrides });
  gateway.nodes.replace([NODE_1, NODE_2]);
  return { nsmrs, gateway };
}

test.serial("RegisterNSE reaches NSMRS with the NSMgr URL on the node's external IP; NSMRS's answer comes back", async t => {
  const { nsmrs, gateway } = await withNsmrs();
  const res = await callUnary(gateway.registryAddress, REGISTER, registration("nse-1"));
  t.is(nsmrs.registered.length, 1);
  t.deepEqual(nsmrs.registered[0]?.networkServiceManager, { name: "node-1", url: "203.0.113.1:5001", state: "", lastSeen: undefined });
  t.deepEqual(nsmrs.registered[0]?.networkServiceEndpoint, registration("nse-1").networkServiceEndpoint, "the endpoint is forwarded as sent");
  t.is(res.networkServiceManager?.name, "node-1_203.0.113.1_5001", "the answer is NSMRS's");
});

test.serial("RemoveNSE reaches NSMRS; its NOT_FOUND comes back", async t => {
  const { nsmrs, gateway } = await withNsmrs();
  await callUnary(gateway.registryAddress, REGISTER, registration("nse-1"));
  t.deepEqual(await callUnary(gateway.registryAddress, REMOVE, { networkServiceEndpointName: "nse-1" }), {});
  t.deepEqual(nsmrs.removed, ["nse-1"]);
  t.false(nsmrs.endpoints.has("nse-1"));
  const error = await callError(gateway.registryAddress, REMOVE, { networkServiceEndpointName: "nse-1" });
  t.is(error.code, status.NOT_FOUND);
  t.regex(error.details, /endpoint nse-1 not found/);
});

test.serial("without NSMRS_ADDRESS, RegisterNSE, RemoveNSE and BulkRegisterNSE are UNAVAILABLE naming it", async t => {
  const gateway = await startTestGateway({ nsmrsAddress: undefined });
  const reg = await callError(gateway.registryAddress, REGISTER, registration("nse-1"));
  t.is(reg.code, status.UNAVAILABLE);
  t.regex(reg.details, /NSMRS_ADDRESS/);
  const rm = await callError(gateway.registryAddress, REMOVE, { networkServiceEndpointName: "nse-1" });
  t.is(rm.code, status.UNAVAILABLE);
  t.regex(rm.details, /NSMRS_ADDRESS/);
  const bulk = openBidiStream(gateway.registryAddress, BULK);
  bulk.write(registration("nse-1"));
  const end = await bulk.status;
  t.is(end.code, status.UNAVAILABLE);
  t.regex(end.details, /NSMRS_ADDRESS/);
});

test.serial("a registration without NSMgr or endpoint is INVALID_ARGUMENT and never reaches NSMRS", async t => {
  const { nsmrs, gateway } = await withNsmrs();
  const noNsm = await callError(gateway.registryAddress, REGISTER, NSERegistration.fromPartial({ networkServiceEndpoint: { name: "nse" } }));
  t.is(noNsm.code, status.INVALID_ARGUMENT);
  t.regex(noNsm.details, /no network_service_manager/);
  const noNse = await callError(gateway.registryAddress, REGISTER, NSERegistration.fromPartial({ networkServiceManager: { name: "n", url: "10.0.0.1:5001" } }));
  t.is(noNse.code, status.INVALID_ARGUMENT);
  t.regex(noNse.details, /no network_service_endpoint/);
  const rm = await callError(gateway.registryAddress, REMOVE, { networkServiceEndpointName: "" });
  t.is(rm.code, status.INVALID_ARGUMENT);
  t.is(nsmrs.registered.length + nsmrs.removed.length, 0);
});

test.serial("floating: an NSE registered through the proxy is found as service@<nsmrs> through the proxy", async t => {
  const { nsmrs, gateway } = await withNsmrs({ advertisedAddress: "pnsmgr-svc:5006" });
  await callUnary(gateway.registryAddress, REGISTER, registration("nse-1", { name: "node-2", url: "10.0.0.2:5001" }));
  const name = `icmp-responder@${nsmrs.address}`;
  const res = await callUnary(gateway.registryAddress, FIND, { networkServiceName: name });
  t.deepEqual(nsmrs.finds, [{ networkServiceName: "icmp-responder" }]);
  t.is(res.networkService?.name, name);
  t.deepEqual(
    Object.entries(res.networkServiceManagers).map(([k, n]) => [k, n.name, n.url]),
    [["node-2_203.0.113.2_5001", "node-2_203.0.113.2_5001@203.0.113.2:5001", "pnsmgr-svc:5006"]],
  );
  t.deepEqual(
    res.networkServiceEndpoints.map(e => [e.name, e.networkServiceManagerName]),
    [["nse-1", "node-2_203.0.113.2_5001"]],
  );
});

test.serial("floating, single node: this node's own registration found through NSMRS is localized", async t => {
  const { nsmrs, gateway } = await withNsmrs({ nodeName: "node-1" });
  await callUnary(gateway.registryAddress, REGISTER, registration("nse-1"));
  const res = await callUnary(gateway.registryAddress, FIND, { networkServiceName: `icmp-responder@${nsmrs.address}` });
  t.deepEqual(
    Object.entries(res.networkServiceManagers).map(([k, n]) => [k, n.name, n.url]),
    [["node-1", "node-1", "203.0.113.1:5001"]],
  );
  t.deepEqual(res.networkServiceEndpoints.map(e => e.networkServiceManagerName), ["node-1"]);
});

test.serial("floating: nothing registered is NSMRS's NOT_FOUND", async t => {
  const { nsmrs, gateway } = await withNsmrs();
  const error = await callError(gateway.registryAddress, FIND, { networkServiceName: `icmp-responder@${nsmrs.address}` });
  t.is(error.code, status.NOT_FOUND);
  t.regex(error.details, /no NetworkService with name: icmp-responder/);
});

test.serial("BulkRegisterNSE: each message reaches NSMRS swapped and is answered; half-close ends both streams", async t => {
  const { nsmrs, gateway } = await withNsmrs();
  const bulk = openBidiStream(gateway.registryAddress, BULK);
  bulk.write(registration("nse-1"));
  bulk.write(registration("nse-2", { name: "node-2", url: "10.0.0.2:5001" }));
  const answers = [await bulk.next(), await bulk.next()];
  t.deepEqual(
    answers.map(a => [a.networkServiceEndpoint?.name, a.networkServiceManager?.name]),
    [
      ["nse-1", "node-1_203.0.113.1_5001"],
      ["nse-2", "node-2_203.0.113.2_5001"],
    ],
  );
  t.deepEqual(
    nsmrs.bulkReceived.map(r => r.networkServiceManager?.url),
    ["203.0.113.1:5001", "203.0.113.2:5001"],
  );
  t.is(nsmrs.openBulkStreams(), 1);
  bulk.end();
  t.is((await bulk.status).code, status.OK);
  await waitFor(() => nsmrs.openBulkStreams() === 0, 2000, "the NSMRS stream to end");
});

test.serial("BulkRegisterNSE: a bad message ends the stream with INVALID_ARGUMENT", async t => {
  const { nsmrs, gateway } = await withNsmrs();
  const bulk = openBidiStream(gateway.registryAddress, BULK);
  bulk.write(registration("nse-1"));
  await bulk.next();
  bulk.write(NSERegistration.fromPartial({ networkServiceManager: { name: "node-1", url: "10.0.0.1:5001" } }));
  const end = await bulk.status;
  t.is(end.code, status.INVALID_ARGUMENT);
  t.regex(end.details, /message 2: NSERegistration has no network_service_endpoint/);
  await waitFor(() => nsmrs.openBulkStreams() === 0, 2000, "the NSMRS stream to be cancelled");
  t.is(nsmrs.bulkReceived.length, 1);
});

test.serial("BulkRegisterNSE: NSMRS killed and restarted on the same port mid-stream; every message answered exactly once", async t => {
  const first = await startFakeNsmrs();
  const gateway = await startTestGateway({ nsmrsAddress: first.address });
  gateway.nodes.replace([NODE_1, NODE_2]);
  const bulk = openBidiStream(gateway.registryAddress, BULK);
  bulk.write(registration("nse-1"));
  bulk.write(registration("nse-2"));
  await bulk.next();
  await bulk.next();

  first.holdBulkAcks = true; // nse-3 is received, then NSMRS dies before answering it
  bulk.write(registration("nse-3"));
  await waitFor(() => first.bulkReceived.length === 3, 2000, "NSMRS to receive nse-3");
  first.kill();
  bulk.write(registration("nse-4")); // sent while NSMRS is down

  const second = await startFakeNsmrs({ port: first.port });
  const late = [await bulk.next(8000), await bulk.next(8000)];
  t.deepEqual(
    late.map(a => a.networkServiceEndpoint?.name),
    ["nse-3", "nse-4"],
  );
  t.deepEqual(
    second.bulkReceived.map(r => r.networkServiceEndpoint?.name),
    ["nse-3", "nse-4"],
    "only what the first NSMRS had not answered is sent again",
  );
  t.deepEqual([...second.endpoints.keys()].sort(), ["nse-3", "nse-4"]);

  bulk.write(registration("nse-5"));
  await bulk.next();
  bulk.end();
  t.is((await bulk.status).code, status.OK);
  t.deepEqual(
    bulk.received.map(a => a.networkServiceEndpoint?.name),
    ["nse-1", "nse-2", "nse-3", "nse-4", "nse-5"],
    "each message answered exactly once, in order",
  );
});

test.serial("BulkRegisterNSE: NSMRS that stays down ends the client's stream with UNAVAILABLE after the configured tries", async t => {
  const nsmrs = await startFakeNsmrs();
  const gateway = await startTestGateway({ nsmrsAddress: nsmrs.address, nsmrsReconnectTries: 3, nsmrsReconnectDelayMs: 50 });
  gateway.nodes.replace([NODE_1, NODE_2]);
  const bulk = openBidiStream(gateway.registryAddress, BULK);
  bulk.write(registration("nse-1"));
  await bulk.next();
  nsmrs.kill();
  bulk.write(registration("nse-2"));
  const started = Date.now();
  const end = await bulk.status;
  t.is(end.code, status.UNAVAILABLE);
  t.true(Date.now() - started < 5000, "gave up after 3 short tries");
});
