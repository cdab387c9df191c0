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
import { type Dialing, createDialing } from "./guard/dialing.js";
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

/** What start-up has opened so far: closed in reverse order when a later step fails, and on stop. */
interface Opened {
  add(close: () => unknown): void;
  closeAll(): Promise<void>;
}

function createOpened(): Opened {
  const closers: (() => unknown)[] = [];
  return {
    add: close => void closers.push(close),
    async closeAll() {
      for (const close of closers.splice(0).reverse()) await close();
    },
  };
}

/** Gauges read at scrape time; they know their sources only once those exist. */
interface GaugeSources {
  state?: StateStore;
  upstreamChannels: () => number;
  monitorFeeds: () => number;
}

export async function startGateway(config: Config, options: GatewayOptions = {}): Promise<Gateway> {
  const log = options.log ?? createLogger();
  // A levelled logger (main.ts's) takes element traces too: TRACE traces every element, JSON stays JSON.
  if (isLevelled(log)) applyLevel(log, log.level, config.trace);
  else if (config.trace !== undefined) setTracing(config.trace);
  const opened = createOpened();
  try {
    return await start(config, options, log, opened);
  } catch (error: unknown) {
    await opened.closeAll();
    throw error;
  }
}

async function start(config: Config, options: GatewayOptions, log: Logger, opened: Opened): Promise<Gateway> {
  const spiffe = await startSecurity(config, log);
  if (spiffe) opened.add(() => spiffe.close());
  const nodes = createNodeMap();
  const ipMap = createIpMap();
  const nodeSources = await startNodeSources(config, nodes, ipMap, { warn: message => log.warn(message), info: (message, fields) => log.info(message, fields) });
  opened.add(() => nodeSources.close());
  const gauges: GaugeSources = { upstreamChannels: () => 0, monitorFeeds: () => 0 };
  const observability = await startObservability(config, {
    log,
    gauges: gatewayGauges({
      // NaN (no reading) until the state store is there.
      connections: async () => (gauges.state ? (await gauges.state.connections.list()).length : NaN),
      v1Connections: async () => (gauges.state?.v1Connections.shared ? (await gauges.state.v1Connections.list()).length : NaN),
      monitorFeeds: () => gauges.monitorFeeds(),
      upstreamChannels: () => gauges.upstreamChannels(),
    }),
  });
  opened.add(() => observability.stop());
  const profiling = config.profilingEnabled ? await startProfiling(config.profilingListenAddress, log) : undefined;
  if (profiling) opened.add(() => profiling.close());
  const state = options.state ?? (await waitForStateStore(config.state, { log, timeoutMs: config.stateStartupTimeoutMs }));
  if (options.state === undefined) opened.add(() => state.close());
  gauges.state = state;
  const replicaId = options.replicaId ?? `${hostname()}-${process.pid}-${randomBytes(3).toString("hex")}`;
  // Every dial goes through the destination guard (lib/guard); the DNS cache is shared.
  const dialing = createDialing(config, log, options.lookup);
  const build = (v1Listen: string) => buildProxy({ config, log, spiffe, dialing, nodes, ipMap, state, replicaId, gauges }, v1Listen);
  const { proxy, server, v1Listen } = await bindServer(config, log, spiffe, build);
  gauges.monitorFeeds = () => proxy.monitor.upstreamKeys().length;
  const [apiPort, registryPort, v1Port, ...extraPorts] = server.ports;
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
  dialing.guard.setOwnListeners([...server.ports, server.adminPort], [config.advertisedAddress, dialAddressOf(publicUrl, "PNSMGR_PUBLIC_URL")]);
  return {
    config,
    proxy,
    nodes,
    ipMap,
    routes: state.routes,
    state,
    apiAddress: dialable(config.apiAddress, apiPort ?? 0),
    registryAddress: dialable(config.registryAddress, registryPort ?? 0),
    v1Address: dialable(v1Listen, v1Port ?? 0),
    v1ExtraAddresses: extras,
    metricsAddress: observability.metricsAddress,
    profilingAddress: profiling?.address,
    adminAddress: config.adminListenAddress.startsWith("unix:") ? config.adminListenAddress : dialable(config.adminListenAddress, server.adminPort),
    guard: dialing.guard,
    replicaId,
    spiffe,
    async stop(graceMs = 5000) {
      proxy.health.setServing(false);
      await server.shutdown(graceMs);
      await proxy.close();
      await opened.closeAll();
    },
  };
}

interface ProxyParts {
  config: Config;
  log: Logger;
  spiffe: SpiffeTransport | undefined;
  dialing: Dialing;
  nodes: NodeMap;
  ipMap: IpMap;
  state: StateStore;
  replicaId: string;
  gauges: GaugeSources;
}

/** One proxy with its own client pools (a retried bind builds a fresh one for the new v1 port). */
function buildProxy(parts: ProxyParts, v1Listen: string): Proxy {
  const { config, log, spiffe, dialing, state } = parts;
  const pool = createClientPool({ maxMessageBytes: config.maxMessageBytes });
  const v1Pool = spiffe?.createClientPool({ maxMessageBytes: config.maxMessageBytes });
  parts.gauges.upstreamChannels = () => pool.addresses().length + (v1Pool?.addresses().length ?? 0);
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
    nodes: parts.nodes,
    log,
    connections: state.connections,
    v1Connections: state.v1Connections,
    remoteClusterInfo: createRemoteClusterInfo(upstream, config.remotePort, log),
    routes: state.routes,
    ipMap: parts.ipMap,
    clusterInfo: readClusterInfo(config.clusterInfoFile),
    publicUrl: config.v1PublicUrl ?? `tcp://${dialable(v1Listen, Number(v1Listen.slice(v1Listen.lastIndexOf(":") + 1)))}`,
    events: state.events,
    feeds: state.feeds,
    replicas: state.replicas,
    replicaId: parts.replicaId,
  });
}

/** Binds the listeners; a reserved v1 port taken by another process before we bind it is reserved again. */
async function bindServer(config: Config, log: Logger, spiffe: SpiffeTransport | undefined, build: (v1Listen: string) => Proxy) {
  const tries = bindAddress(config.v1ListenAddress).endsWith(":0") ? 3 : 1;
  for (let attempt = 1; ; attempt++) {
    const v1Listen = await reserveListen(config.v1ListenAddress);
    const proxy = build(v1Listen);
    try {
      const server = await startGatewayServer(proxy, { ...config, v1ListenAddress: v1Listen }, log, spiffe && { credentials: spiffe.serverCredentials, tlsPeer: spiffe.tlsPeer });
      return { proxy, server, v1Listen };
    } catch (error: unknown) {
      await proxy.close();
      if (attempt < tries && String((error as Error).message).includes("EADDRINUSE")) continue;
      throw error;
    }
  }
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
