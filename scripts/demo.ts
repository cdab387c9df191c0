/**
 * `npm run demo`: two NSM domains on loopback with a pnsmgr at the edge of each, and a walk through
 * what an interdomain client does: Find -> Request -> monitor -> the endpoint's data plane goes down
 * -> the endpoint dies -> Close -> the remote NSMgr dies; first with the seed's v0 API, then with
 * NSM v1 (scripts/demo-v1.ts). Both gateways are the real thing
 * (lib/gateway.ts, the code `npm start` runs); the NSMgrs and the registry are stand-ins speaking the
 * real gRPC API (spec/support). Every step checks what crossed the proxy; the demo exits 0 only if
 * every check held.
 */
import { loadConfig } from "../lib/config.js";
import { startGateway, type Gateway } from "../lib/gateway.js";
import { silentLogger } from "../lib/log.js";
import { ConnectionEventType, MonitorConnectionService, type Connection } from "../generated/nsm/connection.js";
import { NetworkServiceService } from "../generated/nsm/networkservice.js";
import { NetworkServiceDiscoveryService } from "../generated/seed/registry.js";
import { callUnary, closeAll, openServerStream } from "../spec/support/grpc.js";
import { startFakeNsmgr } from "../spec/support/fake-nsmgr.js";
import { startFakeRegistry } from "../spec/support/seed-registry-fakes.js";
import { vxlan } from "../spec/support/seed-requests.js";
import { freePort } from "../spec/support/ports.js";
import { LOOPBACK_DIAL_ALLOW } from "../spec/support/loopback.js";
import { walkV1 } from "./demo-v1.js";

let failures = 0;
const step = (title: string) => console.log(`\n== ${title}`);
const show = (label: string, value: unknown) => console.log(`   ${label.padEnd(34)} ${typeof value === "string" ? value : JSON.stringify(value)}`);
function check(what: string, ok: boolean, detail = ""): void {
  console.log(`   ${ok ? "ok  " : "FAIL"} ${what}${detail ? ` (${detail})` : ""}`);
  if (!ok) failures++;
}

async function main(): Promise<void> {
  const gateways: Gateway[] = [];
  try {
    step("domain 2: an NSMgr with endpoint icmp-nse, its registry, and pnsmgr-2 at its edge");
    const nsmgr2 = await startFakeNsmgr({ name: "nsmgr-2", dstIP: "10.2.0.7" });
    const registry2 = await startFakeRegistry(request =>
      request.networkServiceName === "icmp-responder"
        ? {
            payload: "IP",
            networkService: { name: "icmp-responder", payload: "IP", matches: [] },
            networkServiceManagers: { "nsmgr-2": { name: "nsmgr-2", url: nsmgr2.address, lastSeen: undefined, state: "RUNNING" } },
            networkServiceEndpoints: [{ name: "icmp-nse", payload: "IP", networkServiceName: "icmp-responder", networkServiceManagerName: "nsmgr-2", labels: {}, state: "RUNNING" }],
          }
        : { code: 5, details: `no network service ${request.networkServiceName}` },
    );
    const pnsmgr2 = await startGateway({ ...loadConfig({ PNSMGR_INSECURE: "true" }), dialAllow: LOOPBACK_DIAL_ALLOW, adminListenAddress: "127.0.0.1:0", apiAddress: "127.0.0.1:0", registryAddress: "127.0.0.1:0", v1ListenAddress: "127.0.0.1:0", localRegistryAddress: registry2.address }, { log: silentLogger });
    gateways.push(pnsmgr2);
    pnsmgr2.nodes.replace([{ name: "remote-node", internalIP: "10.2.0.7", externalIP: "198.51.100.7" }]);
    show("nsmgr-2", nsmgr2.address);
    show("registry-2", registry2.address);
    show("pnsmgr-2 registry / ClusterInfo", pnsmgr2.registryAddress);
    const domain2 = pnsmgr2.registryAddress; // a host:port domain: several domains on one machine

    step("domain 1: pnsmgr-1 at its edge (the client-side NSMgr is this script)");
    const apiPort = await freePort();
    const remotePort = Number(domain2.split(":")[1]);
    const pnsmgr1 = await startGateway(
      { ...loadConfig({ PNSMGR_INSECURE: "true" }), dialAllow: LOOPBACK_DIAL_ALLOW, adminListenAddress: "127.0.0.1:0", apiAddress: `127.0.0.1:${apiPort}`, registryAddress: "127.0.0.1:0", v1ListenAddress: "127.0.0.1:0", advertisedAddress: `127.0.0.1:${apiPort}`, remotePort },
      { log: silentLogger },
    );
    gateways.push(pnsmgr1);
    pnsmgr1.nodes.replace([{ name: "node-1", internalIP: "10.1.0.5", externalIP: "203.0.113.5" }]);
    show("pnsmgr-1 connections", pnsmgr1.apiAddress);
    show("pnsmgr-1 registry", pnsmgr1.registryAddress);

    step(`Find: FindNetworkService("icmp-responder@${domain2}") at pnsmgr-1`);
    const found = await callUnary(pnsmgr1.registryAddress, NetworkServiceDiscoveryService.findNetworkService, { networkServiceName: `icmp-responder@${domain2}` });
    const nsm = found.networkServiceManagers["nsmgr-2"];
    show("registry-2 was asked for", registry2.requests.at(-1)?.networkServiceName ?? "");
    show("answer: network service", found.networkService?.name ?? "");
    show("answer: NSMgr (key nsmgr-2)", nsm ?? "");
    check("the service comes back with its domain", found.networkService?.name === `icmp-responder@${domain2}`);
    check("the remote NSMgr is named nsmgr@url", nsm?.name === `nsmgr-2@${nsmgr2.address}`);
    check("and is reached through pnsmgr-1", nsm?.url === pnsmgr1.apiAddress);
    const remoteNsm = nsm?.name ?? "";

    step(`Request: icmp-responder@${domain2} via ${nsm?.url}, path [nsmgr-1, ${remoteNsm}]`);
    const request = {
      connection: {
        id: "",
        networkService: `icmp-responder@${domain2}`,
        mechanism: undefined,
        context: undefined,
        labels: { app: "nsc" },
        path: { index: 0, pathSegments: [{ name: "nsmgr-1", id: "", token: "", expires: undefined, metrics: {} }, { name: remoteNsm, id: "", token: "", expires: undefined, metrics: {} }] },
        networkServiceEndpointName: "icmp-nse",
        payload: "IP",
        state: 0,
      },
      mechanismPreferences: [vxlan("10.1.0.5")],
    };
    const conn = await callUnary(nsm?.url ?? "", NetworkServiceService.request, request);
    const crossed = nsmgr2.requests.at(-1);
    show("nsmgr-2 got: service", crossed?.connection?.networkService ?? "");
    show("nsmgr-2 got: path", crossed?.connection?.path?.pathSegments.map(s => s.name) ?? []);
    show("nsmgr-2 got: mechanism parameters", crossed?.mechanismPreferences[0]?.parameters ?? {});
    show("client got: id", conn.id);
    show("client got: path", conn.path?.pathSegments.map(s => s.name) ?? []);
    show("client got: mechanism parameters", conn.mechanism?.parameters ?? {});
    check("the remote NSMgr sees its own names", crossed?.connection?.networkService === "icmp-responder" && crossed.connection.path?.pathSegments[1]?.name === "nsmgr-2");
    check("src_ip went out as the node's external IP", crossed?.mechanismPreferences[0]?.parameters.src_ip === "203.0.113.5");
    check("the client gets its own src_ip back", conn.mechanism?.parameters.src_ip === "10.1.0.5");
    check("dst_ip is domain 2's external IP (asked of pnsmgr-2's ClusterInfo)", conn.mechanism?.parameters.dst_ip === "198.51.100.7");

    step(`Monitor: MonitorConnections [nsmgr-1, ${remoteNsm}] at pnsmgr-1`);
    const segment = (name: string) => ({ name, id: "", token: "", expires: undefined, metrics: {} });
    const events = openServerStream(pnsmgr1.apiAddress, MonitorConnectionService.monitorConnections, { pathSegments: [segment("nsmgr-1"), segment(remoteNsm)], networkServices: [] });
    const initial = await events.next();
    show("event", describe(initial.type, initial.connections));
    check("initial state holds the connection", initial.type === ConnectionEventType.INITIAL_STATE_TRANSFER && conn.id in initial.connections);

    step("the endpoint's data plane goes down (nsmgr-2 reports UPDATE with state DOWN)");
    nsmgr2.connectionDown(conn.id);
    const down = await events.next();
    show("event", describe(down.type, down.connections));
    check("UPDATE/DOWN reaches the client", down.type === ConnectionEventType.UPDATE && down.connections[conn.id]?.state === 1);

    step("the endpoint dies (nsmgr-2 reports DELETE)");
    nsmgr2.endpointDies(conn.id);
    const deleted = await events.next();
    show("event", describe(deleted.type, deleted.connections));
    check("DELETE reaches the client, matching (id, path[1])", deleted.type === ConnectionEventType.DELETE && deleted.connections[conn.id]?.path?.pathSegments[1]?.name === remoteNsm);

    step("Close: the client closes the connection through pnsmgr-1");
    await callUnary(pnsmgr1.apiAddress, NetworkServiceService.close, conn);
    show("nsmgr-2 got Close for", nsmgr2.closes.at(-1)?.id ?? "");
    check("Close reached nsmgr-2 with its own name in path[1]", nsmgr2.closes.at(-1)?.id === conn.id && nsmgr2.closes.at(-1)?.path?.pathSegments[1]?.name === "nsmgr-2");

    step("nsmgr-2 dies: the client's monitor stream must end with an error so that it heals");
    nsmgr2.server.kill();
    const end = await events.status;
    show("stream ended with", `code ${end.code} "${end.details}"`);
    check("UNAVAILABLE, not OK", end.code === 14);

    console.log("\n######## NSM v1 interdomain ########");
    await walkV1({ step, show, check });
  } finally {
    await Promise.all(gateways.map(g => g.stop(100)));
    await closeAll().catch(() => undefined);
  }
  console.log(failures === 0 ? "\ndemo: every step worked" : `\ndemo: ${failures} check(s) failed`);
  process.exitCode = failures === 0 ? 0 : 1;
}

function describe(type: ConnectionEventType, connections: Record<string, Connection>): string {
  const list = Object.values(connections).map(c => `${c.id} state=${c.state === 1 ? "DOWN" : "UP"} path[1]=${c.path?.pathSegments[1]?.name ?? ""} service=${c.networkService}`);
  return `${ConnectionEventType[type]} {${list.join("; ")}}`;
}

main().catch((error: unknown) => {
  console.error(`demo failed: ${(error as Error).stack ?? String(error)}`);
  process.exit(1);
});
