/**
 * One running gateway: configuration in, listening server out. Used by main.ts, the demo and the
 * integration tests alike, so that tests start exactly what operators run.
 */
import { createServer } from "node:net";
import { hostname } from "node:os";
import { randomBytes } from "node:crypto";
import { type Config, securityMode } from "./config.js";
import { type Logger, createLogger, isLevelled } from "./log.js";
import { applyLevel } from "./log-signals.js";
import type { Lookup } from "./domains/resolve.js";
import type { DestinationGuard } from "./guard/destination-guard.js";
import { createDialing } from "./guard/dialing.js";
import { createClientPool } from "./transport/grpc/client-pool.js";
import { dialAddressOf } from "./domains/nsm-url.js";
import { createNodeMap, type NodeMap } from "./nodes/node-map.js";
import { startNodeSources } from "./nodes/node-sources.js";
import { createProxy, type Proxy } from "./proxy.js";
import { startGatewayServer } from "./server.js";
import { setTracing } from "./pipeline/trace.js";
import { createRemoteClusterInfo } from "./domains/remote-cluster-info.js";
import type { RouteStore } from "./state/route-store.js";
import type { StateStore } from "./state/state.js";
import { waitForStateStore } from "./state/wait-for-state.js";
import { startObservability } from "./observability/start.js";
import { gatewayGauges } from "./observability/gateway-gauges.js";
import { startProfiling } from "./observability/profiling.js";
import { createIpMap, type IpMap } from "./nodes/ip-map.js";
import { readClusterInfo } from "./nodes/cluster-info.js";
import { bindAddress } from "./domains/address.js";
import { type SpiffeTransport, startSpiffeTransport } from "./transport/grpc/spiffe-transport.js";

export interface Gateway {
  readonly config: Config;
  readonly proxy: Proxy;
  readonly nodes: NodeMap;
  /** v1 swapip's IP map (map-ip.yaml or the Kubernetes nodes). */
  readonly ipMap: IpMap;
  /** Dialable addresses of the two listeners (127.0.0.1 for wildcard binds). */
  readonly apiAddress: string;
  readonly registryAddress: string;
  /** v1 learned routes, NSE name -> URL. */
  readonly routes: RouteStore;
  /** Shared state: memory, or Redis shared with the other replicas. */
  readonly state: StateStore;
  /** Dialable address of the v1 listener. */
  readonly v1Address: string;
  /** NSM_LISTEN_ON's further listeners as bound (host:port, or unix:///path). */
  readonly v1ExtraAddresses: readonly string[];
  /** The Prometheus endpoint (host:port as bound), when PNSMGR_METRICS_LISTEN_ON is set. */
  readonly metricsAddress: string | undefined;
  /** The profiling endpoint (host:port as bound), when NSM_PPROF_ENABLED. */
  readonly profilingAddress: string | undefined;
  /** Dialable address of the admin listener (host:port, or the unix: address as configured). */
  readonly adminAddress: string;
  /** The destination guard every caller-derived dial passes (its refusals are counted there). */
  readonly guard: DestinationGuard;
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
  // A levelled logger (main.ts's) takes element traces too: TRACE traces every element, JSON stays JSON.
  if (isLevelled(log)) applyLevel(log, log.level, config.trace);
  else if (config.trace !== undefined) setTracing(config.trace);
  const spiffe = await startSecurity(config, log);
  const nodes = createNodeMap();
  const ipMap = createIpMap();
  const nodeSources = await startNodeSources(config, nodes, ipMap, { warn: message => log.warn(message), info: (message, fields) => log.info(message, fields) });
  let upstreamChannels = () => 0;
  let ready: StateStore | undefined;
  let monitorFeeds = () => 0;
  const observability = await startObservability(config, {
    log,
    gauges: gatewayGauges({
      // NaN (no reading) until the state store is there.
      connections: async () => (ready ? (await ready.connections.list()).length : NaN),
      v1Connections: async () => (ready?.v1Connections.shared ? (await ready.v1Connections.list()).length : NaN),
      monitorFeeds: () => monitorFeeds(),
      upstreamChannels: () => upstreamChannels(),
    }),
  });
  const profiling = config.profilingEnabled
    ? await startProfiling(config.profilingListenAddress, log).catch(async (error: unknown) => {
        await observability.stop();
        await nodeSources.close();
        spiffe?.close();
        throw error;
      })
    : undefined;
  let state: StateStore;
  try {
    state = options.state ?? (await waitForStateStore(config.state, { log, timeoutMs: config.stateStartupTimeoutMs }));
  } catch (error: unknown) {
    await nodeSources.close();
    await observability.stop();
    await profiling?.close();
    spiffe?.close();
    throw error;
  }
  ready = state;
  const ownsState = options.state === undefined;
  const routes = state.routes;
  const replicaId = options.replicaId ?? `${hostname()}-${process.pid}-${randomBytes(3).toString("hex")}`;
  const clusterInfo = readClusterInfo(config.clusterInfoFile);
  // Every dial goes through the destination guard (lib/guard); the DNS cache is shared.
  const dialing = createDialing(config, log, options.lookup);
  const { guard } = dialing;
  const build = (v1Listen: string) => {
    const pool = createClientPool({ maxMessageBytes: config.maxMessageBytes });
    const v1Pool = spiffe?.createClientPool({ maxMessageBytes: config.maxMessageBytes });
    upstreamChannels = () => pool.addresses().length + (v1Pool?.addresses().length ?? 0);
    const upstream = dialing.upstream(pool);
    return createProxy({
      config,
      upstream,
      // Secured mode: v1 next hops over mTLS with per-call tokens, through the same guard.
      ...(spiffe && v1Pool ? { v1Upstream: dialing.upstream(v1Pool), identity: spiffe.identity } : {}),
      resolver: dialing.resolver,
      dns: dialing.dns,
      vet: dialing.vet,
      checkDestination: dialing.checkDestination,
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
      await nodeSources.close();
      spiffe?.close();
      await observability.stop();
      await profiling?.close();
      if (ownsState) await state.close();
      throw error;
    }
  }
  const [apiPort, registryPort, v1Port, ...extraPorts] = server.ports;
  const running = server;
  const built = proxy;
  monitorFeeds = () => built.monitor.upstreamKeys().length;
  const extras = config.v1ExtraListenAddresses.map((listen, i) => (listen.startsWith("unix:") ? listen : bound(listen, extraPorts[i] ?? 0)));
  const listeners: [string, string][] = [
    ["connections", bound(config.apiAddress, apiPort ?? 0)],
    ["registry", bound(config.registryAddress, registryPort ?? 0)],
    ["v1", bound(v1Listen, v1Port ?? 0)],
    ...extras.map((address): [string, string] => ["v1", address]),
    ...(observability.metricsAddress ? [["metrics", observability.metricsAddress] as [string, string]] : []),
    ...(profiling ? [["profiling", profiling.address] as [string, string]] : []),
  ];
  for (const [listener, address] of listeners) log.info("listening", { listener, address });
  const publicUrl = config.v1PublicUrl ?? `tcp://${dialable(v1Listen, v1Port ?? 0)}`;
  guard.setOwnListeners([...server.ports, server.adminPort], [config.advertisedAddress, dialAddressOf(publicUrl, "PNSMGR_PUBLIC_URL")]);
  return {
    config,
    proxy,
    nodes,
    ipMap,
    routes,
    state,
    apiAddress: dialable(config.apiAddress, apiPort ?? 0),
    registryAddress: dialable(config.registryAddress, registryPort ?? 0),
    v1Address: dialable(v1Listen, v1Port ?? 0),
    v1ExtraAddresses: extras,
    metricsAddress: observability.metricsAddress,
    profilingAddress: profiling?.address,
    adminAddress: config.adminListenAddress.startsWith("unix:") ? config.adminListenAddress : dialable(config.adminListenAddress, server.adminPort),
    guard,
    replicaId,
    spiffe,
    async stop(graceMs = 5000) {
      proxy.health.setServing(false);
      await running.shutdown(graceMs);
      await proxy.close();
      await observability.stop();
      await profiling?.close();
      await nodeSources.close();
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

/** A listen address with the port the server actually got: what a "listening" line shows. */
function bound(listen: string, port: number): string {
  const address = bindAddress(listen);
  return `${address.slice(0, address.lastIndexOf(":"))}:${port}`;
}

function dialable(listen: string, port: number): string {
  const host = listen.startsWith("[") ? listen.slice(0, listen.indexOf("]") + 1) : listen.slice(0, listen.lastIndexOf(":"));
  return `${host === "" || host === "0.0.0.0" ? "127.0.0.1" : host === "[::]" ? "[::1]" : host}:${port}`;
}
