/**
 * The two generations of MonitorConnections as the contract tests drive them (not a test file):
 * each puts a remote behind the proxies (replicas or an in-process gateway), makes the remote's connection carry a number n (one event
 * per n), and reads n back from what a client or the event log got.
 *
 *   seed: client (as nsmgr-1) ─▶ A or B (seed listener) ─(one feed: the remote and selector)─▶ fake nsmgr-2
 *   v1:   client (as fwd-1) ─▶ A or B (v1 listener) ─(one feed: nsmgr-2 and our segment)─▶ fake v1 nsmgr-2
 *         (the connection is made by a Request through the first proxy, its next hop found in NSM_REGISTRY_URL;
 *         n travels in the connection's context, which the proxy relays in its own frame)
 */
import { type Connection, ConnectionEvent, MonitorConnectionService, type MonitorScopeSelector } from "../../../generated/nsm/connection.js";
import { NetworkServiceService } from "../../../generated/nsm/networkservice.js";
import { eventPositionOf } from "../../../lib/transport/grpc/event-positions.js";
import { callUnary } from "../../support/grpc.js";
import { startFakeNsmgr } from "../../support/fake-nsmgr.js";
import { startFakeV1Nsmgr } from "../../support/fake-v1-nsmgr.js";
import { startFakeNseRegistry } from "../../support/fake-v1-registry-lite.js";
import type { Config } from "../../../lib/config.js";
import { fwdRequest, fwdToken } from "../connection-v1/_topology.js";
import { segment as v1Segment } from "../../support/wire.js";

import type { PositionedEvent as Received } from "../../support/wire.js";
export type { Received };
export { monitorWithPositions } from "../../support/wire.js";

/** What a logged payload or a received connection says n is (undefined: not one of the test's events). */
type Shown = { labels?: Record<string, string>; context?: { extraContext?: Record<string, string> } };

/** A replica (support/replicas.ts) or an in-process gateway (support/gateway.ts). */
export interface Proxy {
  readonly apiAddress: string;
  readonly v1Address: string;
}

export interface Remote {
  /** The connection now carries n; the remote tells its monitors. */
  publish(n: number): void;
  /** Open monitor streams at the remote (the feed's upstream). */
  monitorCount(): number;
  /** Where a client monitors through a proxy, and with which selector. */
  address(proxy: Proxy): string;
  readonly selector: MonitorScopeSelector;
  /** n of a received event's connection. */
  nOf(received: Received): number | undefined;
  /** n of a logged event's payload (proto3 JSON), if it is one of the test's. */
  loggedNOf(payload: { connections?: Record<string, Shown> }): number | undefined;
}

export interface Generation {
  readonly name: "seed" | "v1";
  /** What the proxies need for it: variables of a replica, or the configuration of an in-process gateway. */
  prepare(): Promise<{ readonly env: Record<string, string>; readonly config: Partial<Config> }>;
  /** The remote with its connection at n = 0, set up through `proxy`. */
  begin(proxy: Proxy): Promise<Remote>;
  /** The first n the log holds as an UPDATE (seed: 0 is in the feed's initial state). */
  readonly firstLoggedUpdate: number;
  /** INITIAL_STATE_TRANSFERs a resumed stream gets after a takeover (seed: the new holder's fresh upstream; v1: none, a v1 stream has one initial state). */
  readonly transfersOnTakeover: number;
}

const seedSegment = (name: string) => ({ name, id: "", token: "", expires: undefined, metrics: {} });
const nFrom = (conn: Shown | undefined) => {
  const text = conn?.labels?.n ?? conn?.context?.extraContext?.n;
  return text === undefined ? undefined : Number(text);
};
const first = (connections: Record<string, Shown> | undefined) => Object.values(connections ?? {})[0];

function seedConnection(n: number): Connection {
  return {
    id: "conn-1",
    networkService: "icmp-responder",
    mechanism: undefined,
    context: undefined,
    labels: { n: String(n) },
    path: { index: 1, pathSegments: [seedSegment("nsmgr-1"), seedSegment("nsmgr-2")] },
    networkServiceEndpointName: "nse-1",
    payload: "IP",
    state: 0,
  } as Connection;
}

const seed: Generation = {
  name: "seed",
  prepare: async () => ({ env: {}, config: {} }),
  async begin() {
    const remote = await startFakeNsmgr({ name: "nsmgr-2" });
    remote.update(seedConnection(0));
    return {
      publish: n => remote.update(seedConnection(n)),
      monitorCount: () => remote.monitorCount(),
      address: proxy => proxy.apiAddress,
      selector: { pathSegments: [seedSegment("nsmgr-1"), seedSegment(`nsmgr-2@${remote.address}`)], networkServices: [] },
      nOf: received => nFrom(received.event.connections["conn-1"]),
      loggedNOf: payload => nFrom(payload.connections?.["conn-1"]),
    };
  },
  firstLoggedUpdate: 1,
  transfersOnTakeover: 1,
};

let v1Next: Awaited<ReturnType<typeof startFakeV1Nsmgr>> | undefined;

const v1: Generation = {
  name: "v1",
  async prepare() {
    v1Next = await startFakeV1Nsmgr({ name: "nsmgr-2", endpoints: ["nse"] });
    const registry = await startFakeNseRegistry({ nse: v1Next.url });
    return { env: { NSM_REGISTRY_URL: registry.url }, config: { registryUrl: registry.url } };
  },
  async begin(proxy) {
    const next = v1Next;
    if (!next) throw new Error("v1.prepare() first");
    const answer = await callUnary(proxy.v1Address, NetworkServiceService.request, fwdRequest(), { metadata: await fwdToken() });
    const theirs = answer.path?.pathSegments[4]?.id ?? "";
    const publish = (n: number) => next.changed(theirs, { context: { ipContext: undefined, dnsContext: undefined, ethernetContext: undefined, extraContext: { n: String(n) }, MTU: 0 } });
    publish(0);
    return {
      publish,
      monitorCount: () => next.monitorCount(),
      address: proxy => proxy.v1Address,
      selector: { pathSegments: [v1Segment("fwd-1", "fwd-1-id")], networkServices: [] },
      nOf: received => nFrom(first(received.event.connections as Record<string, Shown>)),
      loggedNOf: payload => nFrom(first(payload.connections)),
    };
  },
  firstLoggedUpdate: 0,
  transfersOnTakeover: 0,
};

export const GENERATIONS: readonly Generation[] = [seed, v1];
