/**
 * The v1 half of `npm run demo`: NSM v1 interdomain through two pnsmgr gateways on loopback.
 *
 *   fwd-1 (this script) ─▶ pnsmgr-1 ─(route learned at Find)─▶ pnsmgr-2 ─(discovers "nse" in registry-2)─▶ nsmgr-2
 *
 * Domain "cluster2" is found by DNS (SRV registry.nsm-system.cluster2 and nsmgr-proxy.nsm-system.cluster2,
 * served by a small DNS server on 127.0.0.1), as NSM's registry-proxy-dns does. The gateways are the
 * real thing; nsmgr-2, registry-2 and the DNS server are stand-ins speaking the real protocols.
 * For the same walk against NSM's own Go components, see `npm run test:interop`.
 */
import { loadConfig } from "../lib/config.js";
import { startGateway, type Gateway } from "../lib/gateway.js";
import { silentLogger } from "../lib/log.js";
import { createHs256TokenGenerator } from "../lib/tokens/hs256.js";
import { formatRfc3339Nano } from "../lib/tokens/time.js";
import { ConnectionEventType, MonitorConnectionService, State, type PathSegment } from "../generated/nsm/connection.js";
import { NetworkServiceService, type NetworkServiceRequest } from "../generated/nsm/networkservice.js";
import { NetworkServiceEndpointRegistryService } from "../generated/nsm/registry.js";
import { callUnary, openServerStream } from "../spec/support/grpc.js";
import { startFakeV1Nsmgr } from "../spec/support/fake-v1-nsmgr.js";
import { startFakeV1Registry, timestamp } from "../spec/support/fake-v1-registry.js";
import { startFakeDns } from "../spec/support/fake-dns.js";
import { LOOPBACK_DIAL_ALLOW } from "../spec/support/loopback.js";

export interface Walk {
  step(title: string): void;
  show(label: string, value: unknown): void;
  check(what: string, ok: boolean, detail?: string): void;
}

const segment = (name: string, id: string): PathSegment => ({ name, id, token: "", expires: undefined, metrics: {} });

export async function walkV1({ step, show, check }: Walk): Promise<void> {
  const gateways: Gateway[] = [];
  const dns = await startFakeDns();
  try {
    step("v1 domain cluster2: nsmgr-2 with endpoint nse, registry-2, pnsmgr-2; DNS names for cluster2");
    const nsmgr2 = await startFakeV1Nsmgr({ name: "nsmgr-2", endpoints: ["nse"], dstIP: "10.2.0.7" });
    const registry2 = await startFakeV1Registry();
    registry2.putNs({ name: "svc", payload: "ETHERNET", matches: [], pathIds: [] });
    registry2.putNse({ name: "nse", networkServiceNames: ["svc"], networkServiceLabels: {}, url: nsmgr2.url, expirationTime: timestamp(Date.now() + 600_000), initialRegistrationTime: timestamp(Date.now()), pathIds: [] });
    const v1Gateway = (name: string, extra: Partial<ReturnType<typeof loadConfig>>) =>
      startGateway(
        { ...loadConfig({ PNSMGR_INSECURE: "true" }), dialAllow: LOOPBACK_DIAL_ALLOW, adminListenAddress: "127.0.0.1:0", apiAddress: "127.0.0.1:0", registryAddress: "127.0.0.1:0", v1ListenAddress: "127.0.0.1:0", name, mapIpFile: "/nonexistent/map-ip.yaml", clusterInfoFile: "/nonexistent/clusterinfo.yaml", ...extra },
        { log: silentLogger },
      );
    const pnsmgr2 = await v1Gateway("pnsmgr-2", { registryUrl: `tcp://${registry2.address}` });
    gateways.push(pnsmgr2);
    dns.srv("registry.nsm-system.cluster2", "registry.cluster2.example", registry2.port).a("registry.cluster2.example", "127.0.0.1");
    const proxy2Port = Number(pnsmgr2.v1Address.slice(pnsmgr2.v1Address.lastIndexOf(":") + 1));
    dns.srv("nsmgr-proxy.nsm-system.cluster2", "pnsmgr.cluster2.example", proxy2Port).a("pnsmgr.cluster2.example", "127.0.0.1");
    show("nsmgr-2", nsmgr2.url);
    show("registry-2", registry2.address);
    show("pnsmgr-2 (v1)", pnsmgr2.v1Address);
    show("DNS server", dns.address);

    step("v1 domain cluster1: pnsmgr-1, resolving other domains through that DNS server");
    const pnsmgr1 = await v1Gateway("pnsmgr-1", { dnsServer: dns.address });
    gateways.push(pnsmgr1);
    show("pnsmgr-1 (v1)", pnsmgr1.v1Address);

    step("Find: NSE Find {network_service_names: [svc@cluster2]} at pnsmgr-1 (what registry-1 forwards)");
    const found = openServerStream(pnsmgr1.v1Address, NetworkServiceEndpointRegistryService.find, {
      networkServiceEndpoint: { name: "", networkServiceNames: ["svc@cluster2"], networkServiceLabels: {}, url: "", expirationTime: undefined, initialRegistrationTime: undefined, pathIds: [] },
      watch: false,
    });
    const nse = (await found.next()).networkServiceEndpoint;
    await found.status;
    show("DNS questions", dns.queries.join(", "));
    show("answer", { name: nse?.name, networkServiceNames: nse?.networkServiceNames, url: nse?.url });
    check("the NSE comes back as nse@cluster2", nse?.name === "nse@cluster2" && nse.networkServiceNames[0] === "svc@cluster2");
    check("its URL is pnsmgr-1's, so nsmgr-1 sends Requests there", nse?.url === `tcp://${pnsmgr1.v1Address}`);
    check("pnsmgr-1 learned the route nse@cluster2 -> pnsmgr-2", (await pnsmgr1.routes.get("nse@cluster2")) === `tcp://${pnsmgr2.v1Address}`);

    step("Request: fwd-1 asks pnsmgr-1 for svc@cluster2 on nse@cluster2 (path nsc, nsmgr-1, fwd-1)");
    const issued = await createHs256TokenGenerator({ lifetimeMs: 600_000 }).issue();
    const metadata = { "nsm-client-token": issued.token, "nsm-client-token-expires": formatRfc3339Nano(issued.expires) };
    const request: NetworkServiceRequest = {
      connection: {
        id: "fwd-1-id",
        networkService: "svc@cluster2",
        mechanism: undefined,
        context: undefined,
        labels: { app: "nsc" },
        path: { index: 2, pathSegments: [segment("nsc", "nsc-id"), segment("nsmgr-1", "nsmgr-1-id"), segment("fwd-1", "fwd-1-id")] },
        networkServiceEndpointName: "nse@cluster2",
        payload: "ETHERNET",
        state: State.UP,
      },
      mechanismPreferences: [{ cls: "REMOTE", type: "VXLAN", parameters: { src_ip: "10.1.0.5" } }],
    };
    const conn = await callUnary(pnsmgr1.v1Address, NetworkServiceService.request, request, { metadata });
    const atNsmgr2 = nsmgr2.requests.at(-1)?.message.connection;
    const names = conn.path?.pathSegments.map(s => s.name) ?? [];
    show("path at fwd-1", names);
    show("nsmgr-2 got", { networkService: atNsmgr2?.networkService, endpoint: atNsmgr2?.networkServiceEndpointName, index: atNsmgr2?.path?.index });
    check("8 path segments with pnsmgr-1 at [3] and pnsmgr-2 at [4]", names.length === 8 && names[3] === "pnsmgr-1" && names[4] === "pnsmgr-2");
    check("every hop's segment has an id, a token and an expiry", (conn.path?.pathSegments ?? []).slice(2, 5).every(s => s.id !== "" && s.token !== "" && s.expires !== undefined));
    check("nsmgr-2 sees its own names (svc, nse); fwd-1 gets svc@cluster2 back", atNsmgr2?.networkService === "svc" && atNsmgr2.networkServiceEndpointName === "nse" && conn.networkService === "svc@cluster2");

    step("Monitor: fwd-1 watches its own segment at pnsmgr-1");
    const events = openServerStream(pnsmgr1.v1Address, MonitorConnectionService.monitorConnections, { pathSegments: [segment("fwd-1", "fwd-1-id")], networkServices: [] });
    const initial = await events.next();
    show("event", `${ConnectionEventType[initial.type]} ${Object.keys(initial.connections).join(", ")}`);
    check("the initial state holds the connection", initial.type === ConnectionEventType.INITIAL_STATE_TRANSFER && Object.keys(initial.connections).length === 1);

    step("the endpoint dies behind nsmgr-2: the client must see DOWN to heal");
    const ownId = conn.path?.pathSegments[5]?.id ?? "";
    nsmgr2.endpointDies(ownId);
    const down = await events.next();
    const shown = Object.values(down.connections)[0];
    show("event", `${ConnectionEventType[down.type]} state=${shown?.state === State.DOWN ? "DOWN" : String(shown?.state)}`);
    check("UPDATE with state DOWN reaches fwd-1 (only the client closes)", down.type === ConnectionEventType.UPDATE && shown?.state === State.DOWN);

    step("Close: fwd-1 closes through pnsmgr-1 and pnsmgr-2");
    await callUnary(pnsmgr1.v1Address, NetworkServiceService.close, conn, { metadata });
    const deleted = await events.next();
    show("event", ConnectionEventType[deleted.type]);
    check("Close reached nsmgr-2 as nse", nsmgr2.closes.at(-1)?.message.networkServiceEndpointName === "nse");
    check("DELETE reaches the monitor", deleted.type === ConnectionEventType.DELETE);
    events.cancel();
  } finally {
    await Promise.all(gateways.map(g => g.stop(100)));
    await dns.close();
  }
}
