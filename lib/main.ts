/**
 * `npm start`: read the configuration from the environment, start the gateway on both listeners,
 * drain on SIGTERM/SIGINT. A bad setting stops start-up with one line naming the variable. Logs the
 * effective configuration (secrets redacted) and any NSM_/PNSMGR_/PROXY_NSMD_ variable nothing reads;
 * SIGUSR1/SIGUSR2 switch the log level as NSM's commands do.
 */
import { ConfigError, loadConfig, securityMode } from "./config.js";

import { redact, unknownVariables } from "./config-report.js";
import { startGateway } from "./gateway.js";
import { createLogger } from "./log.js";
import { watchLevelSignals } from "./log-signals.js";

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
    securityMode(config);
  } catch (error: unknown) {
    if (error instanceof ConfigError) {
      process.stderr.write(`pnsmgr: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const log = createLogger(config.logLevel, undefined, config.logFormat);
  watchLevelSignals(log, { configured: config.logLevel, trace: config.trace });
  for (const name of unknownVariables(process.env)) log.warn("unknown variable ignored (a typo?)", { variable: name });
  log.info("configuration", redact(config) as Record<string, unknown>);
  const gateway = await startGateway(config, { log });
  log.info("pnsmgr serving", {
    connections: gateway.apiAddress,
    registry: gateway.registryAddress,
    v1: gateway.v1Address,
    admin: gateway.adminAddress,
    ...(gateway.v1ExtraAddresses.length > 0 ? { v1Extra: gateway.v1ExtraAddresses.join(",") } : {}),
    ...(gateway.metricsAddress ? { metrics: gateway.metricsAddress } : {}),
    ...(gateway.profilingAddress ? { profiling: gateway.profilingAddress } : {}),
    store: gateway.state.description,
    replica: gateway.replicaId,
    nodes: gateway.nodes.nodes().length,
  });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info("draining", { signal });
    gateway.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        log.error("drain failed", { error: String(error) });
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

main().catch((error: unknown) => {
  process.stderr.write(`pnsmgr: ${(error as Error).message ?? String(error)}\n`);
  process.exit(1);
});
