/**
 * `npm start`: read the configuration from the environment, start the gateway on both listeners,
 * drain on SIGTERM/SIGINT. A bad setting stops start-up with one line naming the variable.
 */
import { ConfigError, loadConfig, securityMode } from "./config.js";
import { startGateway } from "./gateway.js";
import { createLogger } from "./log.js";

const log = createLogger();

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
  const gateway = await startGateway(config, { log });
  log.info("pnsmgr serving", {
    connections: gateway.apiAddress,
    registry: gateway.registryAddress,
    v1: gateway.v1Address,
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
