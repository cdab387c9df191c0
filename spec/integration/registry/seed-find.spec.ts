/**
 * v0 FindNetworkService and ClusterInfo over real gRPC on loopback: caller -> pnsmgr -> fake remote
 * proxy registry (interdomain branch) or fake local registry (plain names).
 */
import test from "ava";
import { status } from "@grpc/grpc-js";
import { FindNetworkServiceResponse, NetworkServiceDiscoveryService } from "../../../generated/seed/registry.js";
import { ClusterInfoService, NodeIPConfiguration } from "../../../generated/seed/clusterinfo.js";
import { callError, callUnary, closeAll } from "../../support/grpc.js";
import { startTestGateway, stopGateways } from "../../support/gateway.js";
import { type FindAnswer, startFakeRegistry } from "../../support/seed-registry-fakes.js";

test.afterEach.always(async () => {
  await stopGateways();
  await closeAll();
});

const FIND = NetworkServiceDiscoveryService.findNetworkService;
const CLUSTER_INFO = ClusterInfoService.getNodeIpConfiguration;

const NODE_1 = { name: "node-1", internalIP: "10.0.0.1", externalIP: "203.0.113.1" };
const NODE_2 = { name: "node-2", internalIP: "10.0.0.2", externalIP: "203.0.113.2" };

/** A remote domain's proxy registry: knows "icmp-responder" on two of its nodes. */
const remoteDomain: FindAnswer = req =>
  req.networkServiceName === "icmp-responder"
    ? FindNetworkServiceResponse.fromPartial({
        payload: "IP",
        networkService: { name: "icmp-responder", payload: "IP" },
        networkServiceManagers: {
          "r-node-1": { name: "r-node-1", url: "198.51.100.1:5001" },
          "r-key-2": { name: "r-node-2", url: "198.51.100.2:5001" },
        },
        networkServiceEndpoints: [
          { name: "nse-a", networkServiceName: "icmp-responder", networkServiceManagerName: "r-node-1" },
          { name: "nse-b", networkServiceName: "icmp-responder", networkServiceManagerName: "r-key-2" },
        ],
      })
    : { code: status.NOT_FOUND, details: `no NetworkService with name: ${req.networkServiceName}` };

test.serial("service@host:port: the remote registry is asked for the bare name; NSMgrs come back renamed at the advertised address", async t => {
  const remote = await startFakeRegistry(remoteDomain);
  const gateway = await startTestGateway({ advertisedAddress: "pnsmgr-svc:5006" });
  const name = `icmp-responder@${remote.address}`;
  const res = await callUnary(gateway.registryAddress, FIND, { networkServiceName: name });

  t.deepEqual(remote.requests, [{ networkServiceName: "icmp-responder" }], "the suffix is stripped on the way out");
  t.is(res.networkService?.name, name, "the service is named as it was asked for");
  t.is(res.payload, "IP");
  t.deepEqual(res.networkServiceManagers, {
    "r-node-1": { name: "r-node-1@198.51.100.1:5001", url: "pnsmgr-svc:5006", state: "", lastSeen: undefined },
    "r-key-2": { name: "r-node-2@198.51.100.2:5001", url: "pnsmgr-svc:5006", state: "", lastSeen: undefined },
  });
  t.deepEqual(
    res.networkServiceEndpoints.map(e => [e.name, e.networkServiceManagerName]),
    [
      ["nse-a", "r-node-1"],
      ["nse-b", "r-key-2"],
    ],
    "the endpoints still point at the map keys",
  );
});

test.serial("service@IP: the remote registry is dialled on PROXY_NSMD_K8S_REMOTE_PORT", async t => {
  const remote = await startFakeRegistry(remoteDomain);
  const gateway = await startTestGateway({ remotePort: remote.port });
  const res = await callUnary(gateway.registryAddress, FIND, { networkServiceName: "icmp-responder@127.0.0.1" });
  t.is(remote.requests.length, 1);
  t.is(res.networkService?.name, "icmp-responder@127.0.0.1");
  t.is(res.networkServiceManagers["r-node-1"]?.name, "r-node-1@198.51.100.1:5001");
});

test.serial("localize: an NSMgr on this very node comes back as NODE_NAME, its endpoints pointing at it", async t => {
  const remote = await startFakeRegistry(() =>
    FindNetworkServiceResponse.fromPartial({
      networkService: { name: "icmp-responder" },
      networkServiceManagers: {
        "node-1_203.0.113.1_5001": { name: "node-1_203.0.113.1_5001", url: "203.0.113.1:5001" },
        "r-node-1": { name: "r-node-1", url: "198.51.100.1:5001" },
      },
      networkServiceEndpoints: [
        { name: "nse-here", networkServiceManagerName: "node-1_203.0.113.1_5001" },
        { name: "nse-there", networkServiceManagerName: "r-node-1" },
      ],
    }),
  );
  const gateway = await startTestGateway({ nodeName: "node-1" });
  gateway.nodes.replace([NODE_1, NODE_2]);
  const res = await callUnary(gateway.registryAddress, FIND, { networkServiceName: `icmp-responder@${remote.address}` });
  t.deepEqual(
    Object.entries(res.networkServiceManagers)
      .map(([k, n]) => [k, n.name, n.url])
      .sort(),
    [
      ["node-1", "node-1", "203.0.113.1:5001"],
      ["r-node-1", "r-node-1@198.51.100.1:5001", "pnsmgr-svc:5006"],
    ],
  );
  t.deepEqual(
    res.networkServiceEndpoints.map(e => [e.name, e.networkServiceManagerName]),
    [
      ["nse-here", "node-1"],
      ["nse-there", "r-node-1"],
    ],
  );
});

test.serial("an error from the remote registry comes back with its code and the address", async t => {
  const remote = await startFakeRegistry(remoteDomain);
  const gateway = await startTestGateway();
  const error = await callError(gateway.registryAddress, FIND, { networkServiceName: `nope@${remote.address}` });
  t.is(error.code, status.NOT_FOUND);
  t.regex(error.details, new RegExp(`next hop ${remote.address}.*no NetworkService with name: nope`));
});

test.serial("a remote registry that is down is UNAVAILABLE", async t => {
  const remote = await startFakeRegistry(remoteDomain);
  await remote.server.stop();
  const gateway = await startTestGateway();
  const error = await callError(gateway.registryAddress, FIND, { networkServiceName: `icmp-responder@${remote.address}` });
  t.is(error.code, status.UNAVAILABLE);
  t.regex(error.details, new RegExp(remote.address));
});

test.serial("a domain that does not resolve is NOT_FOUND, naming it", async t => {
  const lookups: string[] = [];
  const gateway = await startTestGateway(
    {},
    {
      lookup: async name => {
        lookups.push(name);
        throw Object.assign(new Error("no such name"), { code: "ENOTFOUND" });
      },
    },
  );
  const error = await callError(gateway.registryAddress, FIND, { networkServiceName: "icmp-responder@remote.example" });
  t.is(error.code, status.NOT_FOUND);
  t.regex(error.details, /remote\.example/);
  t.deepEqual(lookups, ["remote.example"]);
});

for (const name of ["", "icmp-responder@", "@127.0.0.1:5005"]) {
  test.serial(`a bad name ${JSON.stringify(name)} is INVALID_ARGUMENT`, async t => {
    const gateway = await startTestGateway();
    const error = await callError(gateway.registryAddress, FIND, { networkServiceName: name });
    t.is(error.code, status.INVALID_ARGUMENT);
    t.regex(error.details, /network_service_name/);
  });
}

test.serial("a plain name is answered by the local registry, NSMgr URLs on external IPs", async t => {
  const local = await startFakeRegistry(() =>
    FindNetworkServiceResponse.fromPartial({
      networkService: { name: "icmp-responder" },
      networkServiceManagers: {
        "node-1": { name: "node-1", url: "10.0.0.1:5001" },
        "node-2": { name: "node-2", url: "10.0.0.2:5001" },
        "node-9": { name: "node-9", url: "10.0.0.9:5001" },
      },
      networkServiceEndpoints: [{ name: "nse", networkServiceManagerName: "node-2" }],
    }),
  );
  const gateway = await startTestGateway({ localRegistryAddress: local.address });
  gateway.nodes.replace([NODE_1, NODE_2]);
  const res = await callUnary(gateway.registryAddress, FIND, { networkServiceName: "icmp-responder" });
  t.deepEqual(local.requests, [{ networkServiceName: "icmp-responder" }]);
  t.deepEqual(
    Object.entries(res.networkServiceManagers).map(([k, n]) => [k, n.name, n.url]),
    [
      ["node-1", "node-1", "203.0.113.1:5001"],
      ["node-2", "node-2", "203.0.113.2:5001"],
      ["node-9", "node-9", "10.0.0.9:5001"],
    ],
  );
  t.is(res.networkService?.name, "icmp-responder");
});

test.serial("a plain name without a local registry is UNAVAILABLE naming PNSMGR_LOCAL_REGISTRY", async t => {
  const gateway = await startTestGateway({ localRegistryAddress: undefined });
  const error = await callError(gateway.registryAddress, FIND, { networkServiceName: "icmp-responder" });
  t.is(error.code, status.UNAVAILABLE);
  t.regex(error.details, /PNSMGR_LOCAL_REGISTRY/);
});

test.serial("GetNodeIPConfiguration: found by internal IP, not found, empty query", async t => {
  const gateway = await startTestGateway();
  gateway.nodes.replace([NODE_1, NODE_2]);
  t.deepEqual(await callUnary(gateway.registryAddress, CLUSTER_INFO, NodeIPConfiguration.fromPartial({ internalIP: "10.0.0.2" })), {
    nodeName: "node-2",
    internalIP: "10.0.0.2",
    externalIP: "203.0.113.2",
  });
  t.deepEqual((await callUnary(gateway.apiAddress, CLUSTER_INFO, NodeIPConfiguration.fromPartial({ nodeName: "node-1" }))).externalIP, "203.0.113.1", "served on both ports");
  const missing = await callError(gateway.registryAddress, CLUSTER_INFO, NodeIPConfiguration.fromPartial({ externalIP: "192.0.2.1" }));
  t.is(missing.code, status.NOT_FOUND);
  t.is(missing.details, `node was not found: externalIP="192.0.2.1"`);
  const empty = await callError(gateway.registryAddress, CLUSTER_INFO, NodeIPConfiguration.fromPartial({}));
  t.is(empty.code, status.INVALID_ARGUMENT);
});
