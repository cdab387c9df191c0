/** Shared pieces of the v1 connection unit tests (not a test file: ava runs *.spec.ts only). */
import { type CallContext, createCallContext } from "../../../lib/pipeline/context.js";
import type { Connection, Mechanism, PathSegment } from "../../../generated/nsm/connection.js";
import type { NetworkServiceRequest } from "../../../generated/nsm/networkservice.js";
import { toTimestamp } from "../../../lib/tokens/time.js";

export const ctx = (metadata: Record<string, string> = {}, deadline?: number): CallContext =>
  createCallContext({ method: "/networkservice.NetworkService/Request", metadata: new Map(Object.entries(metadata)), ...(deadline === undefined ? {} : { deadline }) });

export const seg = (name: string, id: string, expiresInMs?: number): PathSegment => ({
  name,
  id,
  token: "",
  expires: expiresInMs === undefined ? undefined : toTimestamp(Date.now() + expiresInMs),
  metrics: {},
});

export const vxlan = (params: Record<string, string>): Mechanism => ({ cls: "REMOTE", type: "VXLAN", parameters: params });

/** A Connection as fwd-1 sends it to proxy-1: path [nsc, nsmgr-1, fwd-1], index 2. */
export function fwdConnection(overrides: Partial<Connection> = {}): Connection {
  return {
    id: "fwd-1-id",
    networkService: "ns@domain-2",
    mechanism: undefined,
    context: undefined,
    labels: { app: "nsc" },
    path: { index: 2, pathSegments: [seg("nsc", "nsc-id", 600_000), seg("nsmgr-1", "nsmgr-1-id", 600_000), seg("fwd-1", "fwd-1-id", 600_000)] },
    networkServiceEndpointName: "nse@domain-2",
    payload: "ETHERNET",
    state: 0,
    ...overrides,
  };
}

export function fwdRequest(overrides: Partial<Connection> = {}, preferences: Mechanism[] = [vxlan({ src_ip: "10.1.0.5" })]): NetworkServiceRequest {
  return { connection: fwdConnection(overrides), mechanismPreferences: preferences };
}

export { errorOf } from "../../support/observables.js";
