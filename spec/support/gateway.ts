/** Starts the real gateway in-process on 127.0.0.1 port 0 with test overrides. */
import { type Config, loadConfig } from "../../lib/config.js";
import { type Gateway, type GatewayOptions, startGateway } from "../../lib/gateway.js";
import { silentLogger } from "../../lib/log.js";
import { LOOPBACK_DIAL_ALLOW } from "./loopback.js";

const running = new Set<Gateway>();

export function testConfig(overrides: Partial<Config> = {}): Config {
  return {
    ...loadConfig({}),
    apiAddress: "127.0.0.1:0",
    registryAddress: "127.0.0.1:0",
    v1ListenAddress: "127.0.0.1:0",
    mapIpFile: "/nonexistent/pnsmgr-test/map-ip.yaml",
    clusterInfoFile: "/nonexistent/pnsmgr-test/clusterinfo.yaml",
    advertisedAddress: "pnsmgr-svc:5006",
    // Plaintext v1 and HS256 tokens unless a test gives a SPIFFE socket (spec/support/spire.ts).
    insecure: overrides.spiffeEndpointSocket === undefined,
    adminListenAddress: "127.0.0.1:0",
    dialAllow: LOOPBACK_DIAL_ALLOW,
    ...overrides,
  };
}

export async function startTestGateway(overrides: Partial<Config> = {}, options: GatewayOptions = {}): Promise<Gateway> {
  const gateway = await startGateway(testConfig(overrides), { log: silentLogger, ...options });
  running.add(gateway);
  return gateway;
}

export async function stopGateways(): Promise<void> {
  await Promise.all([...running].map(g => g.stop(100)));
  running.clear();
}
