/**
 * Mounts the proxy's planes on grpc-js servers: the seed's services on both seed listeners (5006 and
 * 5005, every service on each port), the v1 services on NSM_LISTEN_ON, and the admin service (the
 * event log) with health on its own listener, PNSMGR_ADMIN_LISTEN_ON (loopback by default). This and transport/ are the
 * only places that know grpc-js.
 */
import { Server, ServerCredentials, type ServiceDefinition, type UntypedServiceImplementation } from "@grpc/grpc-js";
import type { Config } from "./config.js";
import { Code, ProxyError } from "./pipeline/errors.js";
import { bindAddress } from "./domains/address.js";
import { freeSocketPath } from "./listen-on.js";
import type { Proxy } from "./proxy.js";
import { serveBidiStream, serveServerStream, serveUnary } from "./transport/grpc/server-bridge.js";
import { withEncodeOnce } from "./transport/grpc/encode-once.js";
import { withEventPositions } from "./transport/grpc/event-positions.js";
import { type BridgeOptions, createOpenStreams } from "./transport/grpc/bridge-options.js";
import { createFailureLog } from "./failure-log.js";
import { createPeerLimit } from "./pipeline/peer-limit.js";
import type { Logger } from "./log.js";
import { NetworkServiceService } from "../generated/nsm/networkservice.js";
import { MonitorConnectionService } from "../generated/nsm/connection.js";
import { HealthService } from "../generated/nsm/health.js";
import { NetworkServiceDiscoveryService, NetworkServiceRegistryService as SeedRegistryService } from "../generated/seed/registry.js";
import { ClusterInfoService } from "../generated/seed/clusterinfo.js";
import { NetworkServiceEndpointRegistryService, NetworkServiceRegistryService as V1RegistryService } from "../generated/nsm/registry.js";
import { EventsService } from "../generated/pnsmgr/admin.js";

export interface GatewayServer {
  readonly server: Server;
  /** Bound ports in listen order: [seed connection plane, seed registry plane, v1]; 0 becomes a real port. */
  readonly ports: readonly number[];
  /** The admin listener's port (0 for a unix socket). */
  readonly adminPort: number;
  /** Ends open streams with UNAVAILABLE, waits up to `graceMs` for unary calls in flight, then cuts the rest. */
  shutdown(graceMs?: number): Promise<void>;
}

/**
 * Listener options. Keepalive also bounds a connection that never completes its HTTP/2 preface (a
 * byte-at-a-time trickle): grpc-js pings every session, and one that cannot answer is closed after
 * keepaliveTime + keepaliveTimeout (grpc-js has no handshake timeout of its own; its idle timer does
 * not close such a session).
 */
export function serverOptions(config: Pick<Config, "maxMessageBytes" | "maxConcurrentStreams" | "keepaliveTimeMs" | "keepaliveTimeoutMs" | "maxConnectionIdleMs">) {
  return {
    "grpc.max_receive_message_length": config.maxMessageBytes,
    "grpc.max_send_message_length": config.maxMessageBytes,
    "grpc.max_concurrent_streams": config.maxConcurrentStreams,
    "grpc.keepalive_time_ms": config.keepaliveTimeMs,
    "grpc.keepalive_timeout_ms": config.keepaliveTimeoutMs,
    "grpc.max_connection_idle_ms": config.maxConnectionIdleMs,
    // Nothing reads channelz; its per-call and per-connection bookkeeping cost CPU on every call.
    "grpc.enable_channelz": 0,
  };
}

/** Every service of the proxy, each with its handlers: the one list of what the gateway serves. */
export function services(proxy: Proxy, b: BridgeOptions = {}): [ServiceDefinition, UntypedServiceImplementation][] {
  return [
    [NetworkServiceService, { request: serveUnary(proxy.connection.request, b), close: serveUnary(proxy.connection.close, b) }],
    [withEncodeOnce(withEventPositions(MonitorConnectionService)), { monitorConnections: serveServerStream(proxy.monitor.monitorConnections, b) }],
    [NetworkServiceDiscoveryService, { findNetworkService: serveUnary(proxy.registry.findNetworkService, b) }],
    [
      SeedRegistryService,
      {
        registerNse: serveUnary(proxy.registry.registerNSE, b),
        bulkRegisterNse: serveBidiStream(proxy.registry.bulkRegisterNSE, b),
        removeNse: serveUnary(proxy.registry.removeNSE, b),
      },
    ],
    [ClusterInfoService, { getNodeIpConfiguration: serveUnary(proxy.registry.getNodeIPConfiguration, b) }],
    [HealthService, { check: serveUnary(proxy.health.check, b), watch: serveServerStream(proxy.health.watch, b) }],
    [EventsService, { read: serveServerStream(proxy.admin.readEvents, b) }],
  ];
}

/** The v1 listener's services: what NSM v1's nsmgr-proxy serves on its one port. */
export function v1Services(proxy: Proxy, b: BridgeOptions = {}): [ServiceDefinition, UntypedServiceImplementation][] {
  const { connection, registry } = proxy.v1;
  return [
    [NetworkServiceService, { request: serveUnary(connection.request, b), close: serveUnary(connection.close, b) }],
    [withEncodeOnce(withEventPositions(MonitorConnectionService)), { monitorConnections: serveServerStream(connection.monitorConnections, b) }],
    [V1RegistryService, { register: serveUnary(registry.nsRegister, b), find: serveServerStream(registry.nsFind, b), unregister: serveUnary(registry.nsUnregister, b) }],
    [NetworkServiceEndpointRegistryService, { register: serveUnary(registry.nseRegister, b), find: serveServerStream(registry.nseFind, b), unregister: serveUnary(registry.nseUnregister, b) }],
    [HealthService, { check: serveUnary(proxy.health.check, b), watch: serveServerStream(proxy.health.watch, b) }],
    [EventsService, { read: serveServerStream(proxy.admin.readEvents, b) }],
  ];
}

/**
 * Two grpc-js servers, because the seed and v1 serve different handlers under the same method paths
 * (/networkservice.NetworkService/Request...): the seed server on its two listeners, the v1 server on
 * NSM_LISTEN_ON.
 */
/** Secured mode: the v1 listener (and the seed's with PNSMGR_V0_TLS) serve mTLS and check each caller. */
export interface ListenerSecurity {
  readonly credentials: ServerCredentials;
  readonly tlsPeer: NonNullable<BridgeOptions["tlsPeer"]>;
}

export async function startGatewayServer(proxy: Proxy, config: Config, log?: Logger, security?: ListenerSecurity): Promise<GatewayServer> {
  const streams = createOpenStreams();
  const plain: BridgeOptions = {
    streams,
    streamsPerPeer: createPeerLimit(config.maxStreamsPerPeer),
    maxQueued: config.maxQueuedMessages,
    ...(log ? { onFailure: createFailureLog(log) } : {}),
  };
  const secured: BridgeOptions = security ? { ...plain, tlsPeer: security.tlsPeer } : plain;
  const seedBridge = config.v0Tls ? secured : plain;
  const seedCredentials = security && config.v0Tls ? security.credentials : ServerCredentials.createInsecure();
  const v1Credentials = security?.credentials ?? ServerCredentials.createInsecure();
  // The event log holds connection ids, IPs and labels: on the public listeners only when asked for.
  const wanted = ([definition]: [ServiceDefinition, UntypedServiceImplementation]) => config.adminEvents === "public" || definition !== EventsService;
  const seed = new Server(serverOptions(config));
  for (const [definition, implementation] of services(proxy, seedBridge).filter(wanted)) seed.addService(definition, implementation);
  const v1 = new Server(serverOptions(config));
  for (const [definition, implementation] of v1Services(proxy, secured).filter(wanted)) v1.addService(definition, implementation);
  // The admin listener is loopback (or a unix socket) by default: plaintext, no caller check.
  const admin = new Server(serverOptions(config));
  admin.addService(HealthService, { check: serveUnary(proxy.health.check, plain), watch: serveServerStream(proxy.health.watch, plain) });
  if (config.adminEvents !== "off") admin.addService(EventsService, { read: serveServerStream(proxy.admin.readEvents, plain) });
  const ports: number[] = [];
  let adminPort: number;
  try {
    for (const listen of [config.apiAddress, config.registryAddress]) ports.push(await bind(seed, bindAddress(listen), seedCredentials));
    ports.push(await bind(v1, bindAddress(config.v1ListenAddress), v1Credentials));
    // NSM_LISTEN_ON's further addresses serve the same v1 services with the same credentials (unix:///path sockets included), as NSM does.
    for (const extra of config.v1ExtraListenAddresses ?? []) ports.push(await bind(v1, extra.startsWith("unix:") ? await freeSocketPath(extra) : bindAddress(extra), v1Credentials));
    const unix = config.adminListenAddress.startsWith("unix:");
    adminPort = await bind(admin, unix ? config.adminListenAddress : bindAddress(config.adminListenAddress), ServerCredentials.createInsecure());
    if (unix) adminPort = 0;
  } catch (error: unknown) {
    seed.forceShutdown();
    v1.forceShutdown();
    admin.forceShutdown();
    throw error;
  }
  return {
    server: seed,
    ports,
    adminPort,
    shutdown: async graceMs => {
      // Streams never end by themselves: end them now so peers heal at once; unary calls get the grace.
      streams.endAll(new ProxyError(Code.UNAVAILABLE, "pnsmgr is shutting down"));
      await Promise.all([shutdown(seed, graceMs ?? 5000), shutdown(v1, graceMs ?? 5000), shutdown(admin, graceMs ?? 5000)]);
    },
  };
}

function bind(server: Server, address: string, credentials: ServerCredentials): Promise<number> {
  return new Promise((resolve, reject) =>
    server.bindAsync(address, credentials, (error, port) => (error ? reject(new Error(`cannot listen on ${address}: ${error.message}`)) : resolve(port))),
  );
}

function shutdown(server: Server, graceMs: number): Promise<void> {
  return new Promise(resolve => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, graceMs);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
