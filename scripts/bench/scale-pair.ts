/**
 * The topology of one `npm run bench:scale` configuration: a pnsmgr pair (domain 1's edge and domain
 * 2's edge, each a real `lib/main.ts` child) between the bench's clients and domain 2's NSMgr
 * stand-in (bench/scale-remote.ts, a child the bench kills and restarts), seed or v1, on the
 * in-memory store or on Redis (one redis-server, each domain under its own key prefix).
 *
 *   seed  clients ─▶ pnsmgr-1 :5006 ─▶ remote nsmgr-2        (the seed's connection plane has one
 *                     └─ dst_ip from pnsmgr-2's ClusterInfo   proxy on the path; the far proxy
 *                                                             answers ClusterInfo, as in the seed)
 *   v1    clients ─▶ pnsmgr-1 ─(route learned by a Find)─▶ pnsmgr-2 ─(registry: nse)─▶ remote nsmgr-2
 *
 * The limits a pnsmgr puts on one peer (streams per HTTP/2 connection, streams and feeds per peer
 * address, 1000 / 1000 / 64 by default) are raised to fit N unless asked not to: every client here,
 * and pnsmgr-1 towards pnsmgr-2, is one address.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Metadata } from "@grpc/grpc-js";
import type { Connection, PathSegment } from "../../generated/nsm/connection.js";
import { NetworkServiceEndpointRegistryService } from "../../generated/nsm/registry.js";
import { createHs256TokenGenerator } from "../../lib/tokens/hs256.js";
import { formatRfc3339Nano } from "../../lib/tokens/time.js";
import { openServerStream } from "../../spec/support/grpc.js";
import { type FakeNseRegistry, startFakeNseRegistry } from "../../spec/support/fake-v1-registry-lite.js";
import { type RedisProcess, startRedis } from "../../spec/support/redis.js";
import { seedRequest, vxlan } from "../../spec/support/seed-requests.js";
import { type GatewayProcess, type ScaleRemoteProcess, startGatewayProcess, startScaleRemote } from "./children.js";
import type { Flavor } from "./scale-clients.js";
import { BENCH_REMOTE_NAME, LOCAL_NODE, REMOTE_NODE } from "./shapes.js";

export type Kind = "seed" | "v1";
export type Store = "memory" | "redis";

/** Seed: connections per client-side NSMgr; each NSMgr's connections share one monitor selector, hence one feed. */
export const SEED_CONNECTIONS_PER_NSMGR = 10;

export interface Pair {
  readonly gateways: readonly GatewayProcess[];
  /** Where the clients send Requests and subscribe. */
  readonly entry: string;
  readonly flavor: Flavor;
  /** The remote NSMgr stand-in now (a new process after restartRemote). */
  remote(): ScaleRemoteProcess;
  /** SIGKILLs the remote NSMgr. */
  killRemote(): Promise<void>;
  /** Starts it again on the same port; resolves when it serves. */
  restartRemote(): Promise<void>;
  /** Lines at WARN or ERROR the two pnsmgr logged (shown up to a few, counted beyond). */
  warnings(): number;
  stop(): Promise<void>;
}

const segment = (name: string, id = ""): PathSegment => ({ name, id, token: "", expires: undefined, metrics: {} });

export interface PairOptions {
  /** Keep pnsmgr's per-connection and per-peer stream limits at their defaults (to see where they bind). */
  readonly defaultLimits?: boolean;
  /** Node arguments for both pnsmgr (e.g. --cpu-prof). */
  readonly nodeArgs?: string[];
}

export async function startPair(kind: Kind, store: Store, n: number, options: PairOptions = {}): Promise<Pair> {
  const dir = mkdtempSync(join(tmpdir(), "pnsmgr-scale-"));
  const opened: { stop(): Promise<void> }[] = [];
  let warnings = 0;
  const echo = (line: string) => /^\S+ (warn|error) /.test(line) && ++warnings <= 5;
  try {
    const redis: RedisProcess | undefined = store === "redis" ? await startRedis() : undefined;
    if (redis) opened.push(redis);
    let remote = await startScaleRemote(kind);
    opened.push({ stop: () => remote.stop() });
    const remotePort = Number(remote.address.slice(remote.address.lastIndexOf(":") + 1));
    const limit = String(2 * n + 1000);
    const common = (domain: string): Record<string, string> => ({
      PROXY_NSMD_API_ADDRESS: "127.0.0.1:0",
      PROXY_NSMD_K8S_ADDRESS: "127.0.0.1:0",
      NSM_LISTEN_ON: "tcp://127.0.0.1:0",
      ...(options.defaultLimits ? {} : { PNSMGR_MAX_CONCURRENT_STREAMS: limit, PNSMGR_MAX_STREAMS_PER_PEER: limit, PNSMGR_MAX_FEEDS_PER_PEER: limit }),
      NSM_MAP_IP_FILE_PATH: join(dir, "absent-map-ip.yaml"),
      PNSMGR_CLUSTER_INFO_FILE: join(dir, "absent-clusterinfo.yaml"),
      ...(redis ? { REDIS_URL: redis.url, PNSMGR_REDIS_PREFIX: `pnsmgr-${domain}:` } : {}),
    });
    const nodeMap = (name: string, node: { internalIP: string; externalIP: string }) => {
      const file = join(dir, `${name}.yaml`);
      writeFileSync(file, `nodes:\n  - name: ${name}\n    internalIP: ${node.internalIP}\n    externalIP: ${node.externalIP}\n`);
      return file;
    };
    const gateway = async (label: string, env: Record<string, string>) => {
      const started = await startGatewayProcess(env, options.nodeArgs ?? [], label, echo);
      opened.push(started);
      if ((store === "redis") !== started.store.startsWith("redis")) throw new Error(`${label} reports store ${started.store}, expected ${store}`);
      return started;
    };

    let pnsmgr1: GatewayProcess;
    let pnsmgr2: GatewayProcess;
    let flavor: Flavor;
    let registry: FakeNseRegistry | undefined;
    if (kind === "seed") {
      pnsmgr2 = await gateway("pnsmgr-2", { ...common("2"), PNSMGR_NODE_MAP_FILE: nodeMap(REMOTE_NODE.nodeName, REMOTE_NODE) });
      const clusterInfoPort = pnsmgr2.registryAddress.slice(pnsmgr2.registryAddress.lastIndexOf(":") + 1);
      pnsmgr1 = await gateway("pnsmgr-1", { ...common("1"), PNSMGR_NODE_MAP_FILE: nodeMap(LOCAL_NODE.name, LOCAL_NODE), PROXY_NSMD_K8S_REMOTE_PORT: clusterInfoPort });
      flavor = seedFlavor(`${BENCH_REMOTE_NAME}@${remote.address}`);
    } else {
      registry = await startFakeNseRegistry({ nse: `tcp://${remote.address}` });
      opened.push(registry.server);
      pnsmgr2 = await gateway("pnsmgr-2", { ...common("2"), NSM_NAME: "pnsmgr-2", NSM_REGISTRY_URL: registry.url });
      pnsmgr1 = await gateway("pnsmgr-1", { ...common("1"), NSM_NAME: "pnsmgr-1" });
      // pnsmgr-1 learns "nse@<pnsmgr-2>" -> pnsmgr-2 from a Find, as an NSMgr's Find through it would teach it.
      const domain = pnsmgr2.v1Address;
      const found = openServerStream(pnsmgr1.v1Address, NetworkServiceEndpointRegistryService.find, {
        networkServiceEndpoint: { name: `nse@${domain}`, networkServiceNames: [], networkServiceLabels: {}, url: "", expirationTime: undefined, initialRegistrationTime: undefined, pathIds: [] },
        watch: false,
      });
      const answer = await found.next();
      await found.status;
      if (answer.networkServiceEndpoint?.url !== `tcp://${pnsmgr1.v1Address}`) throw new Error(`Find of nse@${domain} at pnsmgr-1 answered ${JSON.stringify(answer.networkServiceEndpoint)}`);
      flavor = await v1Flavor(domain);
    }
    const gateways = [pnsmgr1, pnsmgr2];
    return {
      gateways,
      entry: kind === "seed" ? pnsmgr1.apiAddress : pnsmgr1.v1Address,
      flavor,
      remote: () => remote,
      killRemote: () => remote.kill(),
      async restartRemote() {
        remote = await startScaleRemote(kind, remotePort);
      },
      warnings: () => warnings,
      async stop() {
        await Promise.all(opened.reverse().map(o => o.stop().catch(() => undefined)));
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error: unknown) {
    await Promise.all(opened.reverse().map(o => o.stop().catch(() => undefined)));
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

/** Seed clients: connection i comes from client NSMgr "nsmgr-1-<i / 10>", whose connections share a selector. */
function seedFlavor(remoteNsm: string): Flavor {
  const localNsm = (i: number) => `nsmgr-1-${Math.floor(i / SEED_CONNECTIONS_PER_NSMGR)}`;
  const path = (i: number) => ({ index: 0, pathSegments: [segment(localNsm(i)), segment(remoteNsm)] });
  return {
    kind: "seed",
    request: i => seedRequest(remoteNsm, { path: path(i) }),
    refresh: (i, last) => ({ connection: { ...last, state: 0, path: path(i) }, mechanismPreferences: [vxlan(LOCAL_NODE.internalIP)] }),
    selector: i => ({ pathSegments: [segment(localNsm(i)), segment(remoteNsm)], networkServices: [] }),
    mine: (_i, last, conn) => conn.id === last.id,
    metadata: () => new Metadata(),
  };
}

/** v1 clients: connection i is forwarder fwd-1's connection "fwd-1-id-<i>", watched by its own segment. */
async function v1Flavor(domain: string): Promise<Flavor> {
  const issued = await createHs256TokenGenerator({ lifetimeMs: 30 * 60_000 }).issue();
  const own = (i: number) => `fwd-1-id-${i}`;
  return {
    kind: "v1",
    request: i => ({
      connection: {
        id: own(i),
        networkService: `ns@${domain}`,
        mechanism: undefined,
        context: undefined,
        labels: { app: "nsc" },
        path: { index: 2, pathSegments: [segment("nsc", `nsc-id-${i}`), segment("nsmgr-1", `nsmgr-1-id-${i}`), segment("fwd-1", own(i))] },
        networkServiceEndpointName: `nse@${domain}`,
        payload: "ETHERNET",
        state: 0,
      },
      mechanismPreferences: [vxlan(LOCAL_NODE.internalIP)],
    }),
    refresh: (_i, last: Connection) => ({ connection: { ...last, state: 0 }, mechanismPreferences: [vxlan(LOCAL_NODE.internalIP)] }),
    selector: i => ({ pathSegments: [segment("fwd-1", own(i))], networkServices: [] }),
    mine: (i, _last, conn) => conn.path?.pathSegments.some(s => s.id === own(i)) ?? false,
    metadata: () => {
      const md = new Metadata();
      md.set("nsm-client-token", issued.token);
      md.set("nsm-client-token-expires", formatRfc3339Nano(issued.expires));
      return md;
    },
  };
}
