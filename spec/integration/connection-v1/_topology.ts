/**
 * Two v1 domains on 127.0.0.1 for the connection plane's integration tests (not a test file):
 *
 *   test (as fwd-1) ─▶ proxy-1 ─(learned route nse@domain-2)─▶ proxy-2 ─(registry-2: nse)─▶ fake nsmgr-2
 *
 * Both proxies are the real gateway (startTestGateway) with map-ip.yaml files; proxy-2 also has a
 * clusterinfo file; proxy-1's learned route is seeded into its route store by the test.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Config } from "../../../lib/config.js";
import { createHs256TokenGenerator } from "../../../lib/tokens/hs256.js";
import { formatRfc3339Nano } from "../../../lib/tokens/time.js";
import type { Connection, Mechanism, PathSegment } from "../../../generated/nsm/connection.js";
import type { NetworkServiceRequest } from "../../../generated/nsm/networkservice.js";
import { startTestGateway } from "../../support/gateway.js";
import { type FakeV1Nsmgr, startFakeV1Nsmgr } from "../../support/fake-v1-nsmgr.js";
import { type FakeNseRegistry, startFakeNseRegistry } from "../../support/fake-v1-registry-lite.js";

export const DOMAIN1_NODE = { internal: "10.1.0.5", external: "203.0.113.5" };
export const DOMAIN2_NODE = { internal: "10.2.0.7", external: "198.51.100.7" };

export interface RoutedProxy {
  readonly v1Address: string;
  readonly url: string;
  stop(): Promise<void>;
}

const running = new Set<RoutedProxy>();
let dir: string | undefined;

function files(): { mapIp: string; clusterInfo: string } {
  dir ??= mkdtempSync(join(tmpdir(), "pnsmgr-v1-"));
  const mapIp = join(dir, "map-ip-2.yaml");
  const clusterInfo = join(dir, "clusterinfo-2.yaml");
  writeFileSync(mapIp, `${DOMAIN2_NODE.internal}: ${DOMAIN2_NODE.external}\n${DOMAIN2_NODE.external}: ${DOMAIN2_NODE.external}\n`);
  writeFileSync(clusterInfo, "clusterName: cluster-2\n");
  return { mapIp, clusterInfo };
}

export function removeFiles(): void {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
}

export { freePort } from "../../support/ports.js";

/** proxy-1: the real gateway, with learned routes and an IP map given by the test. */
export async function startRoutedProxy(overrides: Partial<Config>, seed: { routes: Record<string, string>; ipMap?: [string, string][] }): Promise<RoutedProxy> {
  dir ??= mkdtempSync(join(tmpdir(), "pnsmgr-v1-"));
  const mapIpFile = join(dir, "map-ip-1.yaml");
  writeFileSync(mapIpFile, (seed.ipMap ?? []).map(([from, to]) => `${from}: ${to}\n`).join(""));
  const gateway = await startTestGateway({ ...overrides, mapIpFile });
  for (const [name, url] of Object.entries(seed.routes)) await gateway.routes.set(name, url);
  const handle: RoutedProxy = {
    v1Address: gateway.v1Address,
    url: `tcp://${gateway.v1Address}`,
    async stop() {
      running.delete(handle);
      await gateway.stop(100);
    },
  };
  running.add(handle);
  return handle;
}

export async function stopRoutedProxies(): Promise<void> {
  await Promise.all([...running].map(p => p.stop()));
}

export interface Topology {
  nsmgr2: FakeV1Nsmgr;
  registry2: FakeNseRegistry;
  proxy2Address: string;
  proxy1: RoutedProxy;
}

export async function startTopology(options: { proxy1TokenLifetimeMs?: number; extraRoutes?: (proxy2Url: string) => Record<string, string> } = {}): Promise<Topology> {
  const nsmgr2 = await startFakeV1Nsmgr({ name: "nsmgr-2", endpoints: ["nse"], dstIP: DOMAIN2_NODE.internal });
  const registry2 = await startFakeNseRegistry({ nse: nsmgr2.url });
  const { mapIp, clusterInfo } = files();
  const proxy2 = await startTestGateway({ name: "proxy-2", registryUrl: registry2.url, mapIpFile: mapIp, clusterInfoFile: clusterInfo });
  const proxy1 = await startRoutedProxy(
    { name: "proxy-1", ...(options.proxy1TokenLifetimeMs ? { maxTokenLifetimeMs: options.proxy1TokenLifetimeMs } : {}) },
    { routes: { "nse@domain-2": `tcp://${proxy2.v1Address}`, ...options.extraRoutes?.(`tcp://${proxy2.v1Address}`) }, ipMap: [[DOMAIN1_NODE.internal, DOMAIN1_NODE.external]] },
  );
  return { nsmgr2, registry2, proxy2Address: proxy2.v1Address, proxy1 };
}

export const segment = (name: string, id: string): PathSegment => ({ name, id, token: "", expires: undefined, metrics: {} });
export const vxlan = (src: string): Mechanism => ({ cls: "REMOTE", type: "VXLAN", parameters: { src_ip: src } });

/** What fwd-1 sends to proxy-1 for "ns@domain-2" on endpoint "nse@domain-2". */
export function fwdRequest(connection: Partial<Connection> = {}): NetworkServiceRequest {
  return {
    connection: {
      id: "fwd-1-id",
      networkService: "ns@domain-2",
      mechanism: undefined,
      context: undefined,
      labels: { app: "nsc" },
      path: { index: 2, pathSegments: [segment("nsc", "nsc-id"), segment("nsmgr-1", "nsmgr-1-id"), segment("fwd-1", "fwd-1-id")] },
      networkServiceEndpointName: "nse@domain-2",
      payload: "ETHERNET",
      state: 0,
      ...connection,
    },
    mechanismPreferences: [vxlan(DOMAIN1_NODE.internal)],
  };
}

/** fwd-1's per-call token metadata, expiring in `lifetimeMs`. */
export async function fwdToken(lifetimeMs = 600_000): Promise<Record<string, string>> {
  const issued = await createHs256TokenGenerator({ lifetimeMs }).issue();
  return { "nsm-client-token": issued.token, "nsm-client-token-expires": formatRfc3339Nano(issued.expires) };
}
