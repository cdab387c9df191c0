/**
 * An OpenTelemetry observer with its Prometheus endpoint on a free loopback port, installed for one
 * test and taken down after it; `scrape` reads the text exposition.
 */
import type { ExecutionContext } from "ava";
import { installObserver } from "../../lib/observability/observer.js";
import { type OtelObserverOptions, createOtelObserver } from "../../lib/observability/otel-observer.js";
import { listenHttp } from "../../lib/observability/http-endpoint.js";

export async function installPrometheus(t: ExecutionContext, options: Omit<OtelObserverOptions, "serviceName" | "prometheus"> = {}): Promise<{ scrape(): Promise<string> }> {
  const otel = createOtelObserver({ serviceName: "t", prometheus: true, ...options });
  const uninstall = installObserver(otel.observer);
  const endpoint = await listenHttp("127.0.0.1:0", otel.prometheusHandler!);
  t.teardown(async () => {
    uninstall();
    await endpoint.close();
    await otel.shutdown();
  });
  return { scrape: async () => (await fetch(`http://${endpoint.address}/metrics`)).text() };
}
