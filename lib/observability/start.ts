/**
 * Starts what the operator switched on: the Prometheus endpoint (PNSMGR_METRICS_LISTEN_ON), OTLP
 * export of traces and metrics (TELEMETRY, NSM_OPEN_TELEMETRY_ENDPOINT, NSM_METRICS_EXPORT_INTERVAL)
 * and installs the observer the transport reports to. OpenTelemetry is loaded only then, so a gateway
 * with both off never loads it (and its memory stays as it was).
 */
import type { Config } from "../config.js";
import type { Logger } from "../log.js";
import { listenHttp } from "./http-endpoint.js";
import { installObserver } from "./observer.js";
import type { GaugeSource } from "./otel-observer.js";

export type { GaugeSource };

export interface Observability {
  /** The Prometheus endpoint's bound address, when on. */
  readonly metricsAddress: string | undefined;
  /** Flushes pending spans and metrics and stops the endpoint. */
  stop(): Promise<void>;
}

type ObservabilityConfig = Pick<Config, "name" | "metricsListenAddress" | "telemetry" | "openTelemetryEndpoint" | "metricsExportIntervalMs">;

export async function startObservability(config: ObservabilityConfig, deps: { log: Logger; gauges?: readonly GaugeSource[] }): Promise<Observability> {
  if (config.metricsListenAddress === undefined && !config.telemetry) return { metricsAddress: undefined, stop: async () => {} };
  const { createOtelObserver } = await import("./otel-observer.js");
  const otel = createOtelObserver({
    serviceName: config.name,
    prometheus: config.metricsListenAddress !== undefined,
    ...(config.telemetry ? { otlp: { endpoint: config.openTelemetryEndpoint, exportIntervalMs: config.metricsExportIntervalMs } } : {}),
    ...(deps.gauges ? { gauges: deps.gauges } : {}),
    onError: message => deps.log.warn("telemetry error", { error: message }),
  });
  const uninstall = installObserver(otel.observer);
  const handler = otel.prometheusHandler;
  let endpoint;
  try {
    endpoint =
      config.metricsListenAddress !== undefined && handler
        ? await listenHttp(config.metricsListenAddress, (request, response) => {
            if (request.method === "GET" && (request.url ?? "").split("?")[0] === "/metrics") handler(request, response);
            else response.writeHead(404, { "content-type": "text/plain" }).end("only GET /metrics is served here\n");
          })
        : undefined;
  } catch (error: unknown) {
    uninstall();
    await otel.shutdown();
    throw error;
  }
  if (config.telemetry) deps.log.info("telemetry on", { endpoint: config.openTelemetryEndpoint, metricsExportIntervalMs: config.metricsExportIntervalMs });
  return {
    metricsAddress: endpoint?.address,
    async stop() {
      await endpoint?.close();
      uninstall();
      await otel.shutdown();
    },
  };
}
