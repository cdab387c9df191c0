/**
 * Mounts the proxy's planes on one grpc-js server bound to both listeners (the seed's 5006 and 5005),
 * so every service answers on each port. This and transport/ are the only places that know grpc-js.
 */
import { Server, ServerCredentials, type ServiceDefinition, type UntypedServiceImplementation } from "@grpc/grpc-js";
import type { Config } from "./config.js";
import { bindAddress } from "./domains/address.js";
import type { Proxy } from "./proxy.js";
import { serveBidiStream, serveServerStream, serveUnary } from "./transport/grpc/server-bridge.js";
import { withEncodeOnce } from "./transport/grpc/encode-once.js";
import { NetworkServiceService } from "../generated/nsm/networkservice.js";
import { MonitorConnectionService } from "../generated/nsm/connection.js";
import { HealthService } from "../generated/nsm/health.js";
import { NetworkServiceDiscoveryService, NetworkServiceRegistryService as SeedRegistryService } from "../generated/seed/registry.js";
import { ClusterInfoService } from "../generated/seed/clusterinfo.js";

export interface GatewayServer {
  readonly server: Server;
  /** Bound ports in listen order: [connection plane, registry plane]; 0 listen ports become real ones. */
  readonly ports: readonly number[];
  /** Stops accepting calls, waits up to `graceMs` for calls in flight, then cuts the rest. */
  shutdown(graceMs?: number): Promise<void>;
}

export function serverOptions(config: Pick<Config, "maxMessageBytes" | "maxConcurrentStreams">) {
  return {
    "grpc.max_receive_message_length": config.maxMessageBytes,
    "grpc.max_send_message_length": config.maxMessageBytes,
    "grpc.max_concurrent_streams": config.maxConcurrentStreams,
  };
}

/** Every service of the proxy, each with its handlers: the one list of what the gateway serves. */
export function services(proxy: Proxy): [ServiceDefinition, UntypedServiceImplementation][] {
  return [
    [NetworkServiceService, { request: serveUnary(proxy.connection.request), close: serveUnary(proxy.connection.close) }],
    [withEncodeOnce(MonitorConnectionService), { monitorConnections: serveServerStream(proxy.monitor.monitorConnections) }],
    [NetworkServiceDiscoveryService, { findNetworkService: serveUnary(proxy.registry.findNetworkService) }],
    [
      SeedRegistryService,
      {
        registerNse: serveUnary(proxy.registry.registerNSE),
        bulkRegisterNse: serveBidiStream(proxy.registry.bulkRegisterNSE),
        removeNse: serveUnary(proxy.registry.removeNSE),
      },
    ],
    [ClusterInfoService, { getNodeIpConfiguration: serveUnary(proxy.registry.getNodeIPConfiguration) }],
    [HealthService, { check: serveUnary(proxy.health.check), watch: serveServerStream(proxy.health.watch) }],
  ];
}

export async function startGatewayServer(proxy: Proxy, config: Config): Promise<GatewayServer> {
  const server = new Server(serverOptions(config));
  for (const [definition, implementation] of services(proxy)) server.addService(definition, implementation);
  const ports: number[] = [];
  for (const listen of [config.apiAddress, config.registryAddress]) {
    ports.push(await bind(server, bindAddress(listen)));
  }
  return {
    server,
    ports,
    shutdown: graceMs => shutdown(server, graceMs ?? 5000),
  };
}

function bind(server: Server, address: string): Promise<number> {
  return new Promise((resolve, reject) =>
    server.bindAsync(address, ServerCredentials.createInsecure(), (error, port) => (error ? reject(new Error(`cannot listen on ${address}: ${error.message}`)) : resolve(port))),
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
