/**
 * pnsmgr's own gauges, read when metrics are collected (a scrape or an OTLP export), never on the
 * call path: connection records held (seed and v1; counted from the state store, so with Redis they
 * are the whole deployment's), monitor feeds whose upstream runs in this replica, open channels to
 * next hops.
 */
import type { GaugeSource } from "./otel-observer.js";

export interface GaugeInputs {
  connections(): Promise<number>;
  v1Connections(): Promise<number>;
  monitorFeeds(): number;
  upstreamChannels(): number;
}

export function gatewayGauges(inputs: GaugeInputs): GaugeSource[] {
  return [
    {
      name: "pnsmgr_connections",
      description: "Connection records held in the state store, by API generation.",
      read: async () => {
        const [seed, v1] = await Promise.all([inputs.connections().catch(() => NaN), inputs.v1Connections().catch(() => NaN)]);
        return [
          ...(Number.isNaN(seed) ? [] : [{ value: seed, labels: { generation: "v0" } }]),
          ...(Number.isNaN(v1) ? [] : [{ value: v1, labels: { generation: "v1" } }]),
        ];
      },
    },
    { name: "pnsmgr_monitor_feeds", description: "Upstream monitor feeds running in this replica.", read: async () => [{ value: inputs.monitorFeeds() }] },
    { name: "pnsmgr_upstream_channels", description: "Open gRPC channels to next hops.", read: async () => [{ value: inputs.upstreamChannels() }] },
  ];
}
