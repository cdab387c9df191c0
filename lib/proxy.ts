/**
 * Assembles one proxy from its planes. Each plane lists its element chains in its own chains file;
 * this is the place to see which planes exist and what they share.
 */
import type { PlaneDeps } from "./planes/deps.js";
import { type ConnectionPlane, createSeedConnectionPlane } from "./planes/connection/seed-chains.js";
import { type MonitorPlane, createMonitorPlane } from "./planes/monitor/monitor-plane.js";
import { type SeedRegistryPlane, createSeedRegistryPlane } from "./planes/registry/seed-registry-plane.js";
import { type Health, createHealth } from "./health.js";
import { type V1ConnectionPlane, createV1ConnectionPlane } from "./planes/connection/v1/v1-connection-plane.js";
import { type V1RegistryPlane, createV1RegistryPlane } from "./planes/registry/v1/v1-registry-plane.js";
import { type AdminService, createAdminService } from "./admin/events-service.js";

export interface Proxy {
  readonly connection: ConnectionPlane;
  readonly monitor: MonitorPlane;
  readonly registry: SeedRegistryPlane;
  readonly health: Health;
  /** NSM v1 interdomain, served on the v1 listener (NSM_LISTEN_ON). */
  readonly v1: { readonly connection: V1ConnectionPlane; readonly registry: V1RegistryPlane };
  /** pnsmgr's own admin API (the monitor event log), served on every listener. */
  readonly admin: AdminService;
  /** Ends upstream subscriptions (giving their monitor feeds up to other replicas) and closes channels to next hops. */
  close(): Promise<void>;
}

export function createProxy(deps: PlaneDeps): Proxy {
  // One feed keeper runs the leased monitor streams of both generations (planes/monitor-feeds.ts).
  const monitor = createMonitorPlane(deps);
  const v1Deps = deps.v1Upstream ? { ...deps, upstream: deps.v1Upstream } : deps;
  const v1 = { connection: createV1ConnectionPlane(v1Deps, { feeds: monitor.feeds }), registry: createV1RegistryPlane(v1Deps) };
  return {
    connection: createSeedConnectionPlane(deps),
    monitor,
    registry: createSeedRegistryPlane(deps, {
      bulkReconnect: { tries: deps.config.nsmrsReconnectTries, delayMs: deps.config.nsmrsReconnectDelayMs },
    }),
    health: createHealth(),
    v1,
    admin: createAdminService(deps.events),
    async close() {
      const feeds = monitor.close();
      v1.connection.shutdown();
      v1.registry.close();
      deps.upstream.close();
      deps.v1Upstream?.close();
      await feeds;
    },
  };
}
