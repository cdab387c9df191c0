/**
 * One running gateway: configuration in, listening server out. Used by main.ts, the demo and the
 * integration tests alike, so that tests start exactly what operators run.
 */
import { createServer } from "node:net";
import { hostname } from "node:os";
import { randomBytes } from "node:crypto";
import { type Config, securityMode } from "./config.js";
import { type Logger, createLogger } from "./log.js";
import { createDomainResolver, type Lookup } from "./domains/resolve.js";
import { createNodeMap, type NodeMap } from "./nodes/node-map.js";
import { watchNodeMapFile } from "./nodes/node-map-file.js";
import { createClientPool } from "./transport/grpc/client-pool.js";
import { createProxy, type Proxy } from "./proxy.js";
import { startGatewayServer } from "./server.js";
import { setTracing } from "./pipeline/trace.js";
import { createRemoteClusterInfo } from "./domains/remote-cluster-info.js";
import type { RouteStore } from "./state/route-store.js";
import { createStateStore, type StateStore } from "./state/state.js";
import { createIpMap, watchIpMapFile } from "./nodes/ip-map.js";
import { readClusterInfo } from "./nodes/cluster-info.js";
import { bindAddress } from "./domains/address.js";
import { type SpiffeTransport, startSpiffeTransport } from "./transport/grpc/spiffe-transport.js";

export interface Gateway {
  readonly config: Config;
  readonly proxy: Proxy;
  readonly nodes: NodeMap;
  /** Dialable addresses of the two listeners (127.0.0.1 for wildcard binds). */
  readonly apiAddress: string;
  readonly registryAddress: string;
  /** v1 learned routes, NSE name -> URL. */
  readonly routes: RouteStore;
  /** Shared state: memory, or Redis shared with the other replicas. */
  readonly state: StateStore;
  /** Dialable address of the v1 listener. */
  readonly v1Address: string;
  /** This replica's id among those sharing the state store (holder of its feed leases). */
  readonly replicaId: string;
  /** Secured mode's SPIFFE transport (identity, refusal counts); undefined in insecure mode. */
  readonly spiffe: SpiffeTransport | undefined;
  /** Drains: health turns NOT_SERVING, calls in flight get `graceMs`, then everything is closed. */
  stop(graceMs?: number): Promise<void>;
}

export interface GatewayOptions {
  log?: Logger;
  /** Domain name lookup; the system resolver by default. */
  lookup?: Lookup;
  /** A state store to use instead of the one config.state describes (the caller then closes it). */
  state?: StateStore;
  /** This replica's id among those sharing the state store (default: host, pid and a random part). */
  replicaId?: string;
}

export async function startGateway(config: Config, options: GatewayOptions = {}): Promise<Gateway> {
  const log = options.log ?? createLogger();
  if (config.trace !== undefined) setTracing(config.trace);
  const spiffe = await startSecurity(config, log);
  const nodes = createNodeMap();
  const nodeWatch = config.nodeMapFile ? watchNodeMapFile(config.nodeMapFile, nodes, message => log.warn(message)) : undefined;
  const ipMap = createIpMap();
  const ipWatch = watchIpMapFile(config.mapIpFile, ipMap, message => log.warn(message));
  const state = options.state ?? (await createStateStore(config.state, { log }).catch((error: unknown) => {
    spiffe?.close();
    throw error;
  }));
  const ownsState = options.state === undefined;
  const routes = state.routes;
  const replicaId = options.replicaId ?? `${hostname()}-${process.pid}-${randomBytes(3).toString("hex")}`;
  const clusterInfo = readClusterInfo(config.clusterInfoFile);
  const build = (v1Listen: string) => {
    const upstream = createClientPool({ maxMessageBytes: config.maxMessageBytes });
    return createProxy({
      config,
      upstream,
      ...(spiffe ? { v1Upstream: spiffe.createClientPool({ maxMessageBytes: config.maxMessageBytes }), identity: spiffe.identity } : {}),
      resolver: createDomainResolver(options.lookup),
      nodes,
      log,
      connections: state.connections,
      v1Connections: state.v1Connections,
      remoteClusterInfo: createRemoteClusterInfo(upstream, config.remotePort, log),
      routes,
      ipMap,
      clusterInfo,
      publicUrl: config.v1PublicUrl ?? `tcp://${dialable(v1Listen, Number(v1Listen.slice(v1Listen.lastIndexOf(":") + 1)))}`,
      events: state.events,
      feeds: state.feeds,
      replicas: state.replicas,
      replicaId,
    });
  };
  // A reserved v1 port can be taken by another process before we bind it: then reserve another.
  const tries = bindAddress(config.v1ListenAddress).endsWith(":0") ? 3 : 1;
  let proxy: Proxy;
  let server: Awaited<ReturnType<typeof startGatewayServer>>;
  let v1Listen: string;
  for (let attempt = 1; ; attempt++) {
    v1Listen = await reserveListen(config.v1ListenAddress);
    proxy = build(v1Listen);
    try {
      server = await startGatewayServer(proxy, { ...config, v1ListenAddress: v1Listen }, log, spiffe && { credentials: spiffe.serverCredentials, tlsPeer: spiffe.tlsPeer });
      break;
    } catch (error: unknown) {
      await proxy.close();
      if (attempt < tries && String((error as Error).message).includes("EADDRINUSE")) continue;
      nodeWatch?.close();
      ipWatch.close();
      spiffe?.close();
      if (ownsState) await state.close();
      throw error;
    }
  }
  const [apiPort, registryPort, v1Port] = server.ports;
  const running = server;
  return {
    config,
    proxy,
    nodes,
    routes,
    state,
    apiAddress: dialable(config.apiAddress, apiPort ?? 0),
    registryAddress: dialable(config.registryAddress, registryPort ?? 0),
    v1Address: dialable(v1Listen, v1Port ?? 0),
    replicaId,
    spiffe,
    async stop(graceMs = 5000) {
      proxy.health.setServing(false);
      await running.shutdown(graceMs);
      await proxy.close();
      nodeWatch?.close();
      ipWatch.close();
      spiffe?.close();
      if (ownsState) await state.close();
    },
  };
}

/**
 * Secured mode (SPIFFE_ENDPOINT_SOCKET) waits for the first X.509 SVID; insecure mode
 * (PNSMGR_INSECURE=true) says so once; anything else is refused by securityMode with a ConfigError.
 */
async function startSecurity(config: Config, log: Logger): Promise<SpiffeTransport | undefined> {
  if (securityMode(config) === "insecure") {
    log.warn("INSECURE MODE (PNSMGR_INSECURE=true): the v1 listener and v1 dials are plaintext, path tokens are HS256 with a public secret, and no token is checked; do not run this at a domain's edge");
    return undefined;
  }
  return startSpiffeTransport({
    endpoint: config.spiffeEndpointSocket!,
    authorize: config.tlsAuthorize,
    tokenLifetimeMs: config.maxTokenLifetimeMs,
    svidTimeoutMs: config.svidTimeoutMs,
    log,
  });
}

/**
 * The v1 public URL must be known before the planes are built, so a v1 listen port of 0 is turned
 * into a concrete free port first.
 */
async function reserveListen(listen: string): Promise<string> {
  const bound = bindAddress(listen);
  if (!bound.endsWith(":0")) return listen;
  const host = bound.slice(0, -2);
  const port = await new Promise<number>((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, host.replace(/^\[(.*)\]$/, "$1"), () => {
      const address = probe.address();
      probe.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
  return `${listen.slice(0, -2)}:${port}`;
}

function dialable(listen: string, port: number): string {
  const host = listen.startsWith("[") ? listen.slice(0, listen.indexOf("]") + 1) : listen.slice(0, listen.lastIndexOf(":"));
  return `${host === "" || host === "0.0.0.0" ? "127.0.0.1" : host === "[::]" ? "[::1]" : host}:${port}`;
}
