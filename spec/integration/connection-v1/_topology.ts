/**
 * Two v1 domains on 127.0.0.1 for the connection plane's integration tests (not a test file):
 *
 *   test (as fwd-1) ─▶ proxy-1 ─(learned route nse@domain-2)─▶ proxy-2 ─(registry-2: nse)─▶ fake nsmgr-2
 *
 * Both proxies are the real gateway with map-ip.yaml files (spec/support/sandbox.ts); proxy-2 also has
 * a clusterinfo file; proxy-1's learned route is seeded into its route store.
 */
import type { ExecutionContext } from "ava";
import type { Gateway } from "../../../lib/gateway.js";
import { createHs256TokenGenerator } from "../../../lib/tokens/hs256.js";
import { formatRfc3339Nano } from "../../../lib/tokens/time.js";
import type { Connection, Mechanism } from "../../../generated/nsm/connection.js";
import type { NetworkServiceRequest } from "../../../generated/nsm/networkservice.js";
import type { FakeV1Nsmgr } from "../../support/fake-v1-nsmgr.js";
import type { FakeNseRegistry } from "../../support/fake-v1-registry-lite.js";
import { sandbox } from "../../support/sandbox.js";
import { segment } from "../../support/wire.js";

export const DOMAIN1_NODE = { internal: "10.1.0.5", external: "203.0.113.5" };
export const DOMAIN2_NODE = { internal: "10.2.0.7", external: "198.51.100.7" };

export interface Topology {
  nsmgr2: FakeV1Nsmgr;
  registry2: FakeNseRegistry;
  proxy2Address: string;
  proxy1: Gateway;
}

/** The two domains above, torn down at the end of test `t`. */
export async function startTopology(t: ExecutionContext, options: { proxy1TokenLifetimeMs?: number; extraRoutes?: (proxy2Url: string) => Record<string, string> } = {}): Promise<Topology> {
  const world = await sandbox(t)
    .domain("domain-2", d =>
      d
        .nsmgr({ name: "nsmgr-2", endpoints: ["nse"], dstIP: DOMAIN2_NODE.internal })
        .gateway({ name: "proxy-2" }, { ipMap: [[DOMAIN2_NODE.internal, DOMAIN2_NODE.external], [DOMAIN2_NODE.external, DOMAIN2_NODE.external]], clusterName: "cluster-2" }),
    )
    .domain("domain-1", d =>
      d.gateway(
        { name: "proxy-1", ...(options.proxy1TokenLifetimeMs ? { maxTokenLifetimeMs: options.proxy1TokenLifetimeMs } : {}) },
        {
          ipMap: [[DOMAIN1_NODE.internal, DOMAIN1_NODE.external]],
          routes: w => ({ "nse@domain-2": w.domain("domain-2").url, ...options.extraRoutes?.(w.domain("domain-2").url) }),
        },
      ),
    )
    .build();
  const two = world.domain("domain-2");
  return { nsmgr2: two.nsmgr, registry2: two.nseRegistry, proxy2Address: two.gateway.v1Address, proxy1: world.domain("domain-1").gateway };
}

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
