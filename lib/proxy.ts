/**
 * Assembles one proxy from its planes. Each plane lists its element chains in its own chains file;
 * this is the place to see which planes exist and what they share.
 */
import type { PlaneDeps } from "./planes/deps.js";
import { type ConnectionPlane, createSeedConnectionPlane } from "./planes/connection/seed-chains.js";
import { type MonitorPlane, createMonitorPlane } from "./planes/monitor/monitor-plane.js";
import { type SeedRegistryPlane, createSeedRegistryPlane } from "./planes/registry/seed-registry-plane.js";
import { type Health, createHealth } from "./health.js";

export interface Proxy {
  readonly connection: ConnectionPlane;
  readonly monitor: MonitorPlane;
  readonly registry: SeedRegistryPlane;
  readonly health: Health;
  /** Ends upstream subscriptions and closes channels to next hops. */
  close(): void;
}

export function createProxy(deps: PlaneDeps): Proxy {
  const monitor = createMonitorPlane(deps);
  return {
    connection: createSeedConnectionPlane(deps),
    monitor,
    registry: createSeedRegistryPlane(deps, {
      bulkReconnect: { tries: deps.config.nsmrsReconnectTries, delayMs: deps.config.nsmrsReconnectDelayMs },
    }),
    health: createHealth(),
    close() {
      monitor.close();
      deps.upstream.close();
    },
  };
}
