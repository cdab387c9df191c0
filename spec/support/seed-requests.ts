/** Seed-mode Requests as a client-side v0 NSMgr sends them to the proxy. */
import type { Connection, Mechanism } from "../../generated/nsm/connection.js";
import type { NetworkServiceRequest } from "../../generated/nsm/networkservice.js";

export const SEED_LOCAL_NODE = { name: "node-1", internalIP: "10.1.0.5", externalIP: "203.0.113.5" };
export const SEED_REMOTE_NODE = { nodeName: "remote-node", internalIP: "10.2.0.7", externalIP: "198.51.100.7" };

export function vxlan(src: string): Mechanism {
  return { cls: "REMOTE", type: "VXLAN", parameters: { src_ip: src } };
}

export function seedRequest(remoteNsm: string, overrides: Partial<Connection> = {}, preferences = [vxlan(SEED_LOCAL_NODE.internalIP), vxlan(SEED_LOCAL_NODE.internalIP)]): NetworkServiceRequest {
  return {
    connection: {
      id: "",
      networkService: "icmp-responder@domain-2",
      mechanism: undefined,
      context: undefined,
      labels: { app: "nsc" },
      path: { index: 0, pathSegments: [{ name: "nsmgr-1", id: "", token: "", expires: undefined, metrics: {} }, { name: remoteNsm, id: "", token: "", expires: undefined, metrics: {} }] },
      networkServiceEndpointName: "icmp-nse",
      payload: "IP",
      state: 0,
      ...overrides,
    },
    mechanismPreferences: preferences,
  };
}

