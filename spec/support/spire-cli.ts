/**
 * The SPIRE fixture (spire.ts) for tests not written in TypeScript: the Go interop harness runs
 * `node --import tsx spec/support/spire-cli.ts '<StartSpireOptions as JSON>'` and drives it over
 * stdin/stdout, one JSON object per line, so that there is one SPIRE fixture, not one per language.
 *
 *   stdout, first line:  {"ready":{"binDir":...,"dir":...,"domains":[<domain>...]}}   or {"error":"..."}
 *   stdin:  {"id":1,"op":"createEntry","args":{<SpireEntryOptions>}}   -> {"id":1,"result":{<SpireEntry>}}
 *           {"id":2,"op":"deleteEntry","args":{<SpireEntry>}}          -> {"id":2,"result":null}
 *           {"id":3,"op":"addDomain","args":{"trustDomain":...,"federate":false}} -> {"id":3,"result":<domain>}
 *           {"id":4,"op":"pathSelectors","args":{"binary":...}}        -> {"id":4,"result":["unix:path:..."]}
 *   any failure: {"id":N,"error":"..."}. End of stdin (or SIGTERM): SPIRE is stopped and the process exits.
 *   <domain> = {trustDomain, id, serverSocket, agentSocket, endpointSocket, agentId, federatedWith: [...]}
 */
import { createInterface } from "node:readline";
import { type SpireDomain, type SpireEntry, type SpireEntryOptions, type StartSpireOptions, pathSelectors, startSpire } from "./spire.js";

function describe(domain: SpireDomain) {
  const { trustDomain, id, serverSocket, agentSocket, endpointSocket, agentId } = domain;
  return { trustDomain, id, serverSocket, agentSocket, endpointSocket, agentId, federatedWith: [...domain.federatedWith] };
}

function send(message: unknown): void {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

async function main(): Promise<void> {
  const options = JSON.parse(process.argv[2] ?? "{}") as StartSpireOptions;
  let spire: Awaited<ReturnType<typeof startSpire>>;
  try {
    spire = await startSpire(options);
  } catch (error: unknown) {
    send({ error: error instanceof Error ? error.message : String(error) });
    process.exit(1);
  }
  let stopping: Promise<void> | undefined;
  const stop = () => (stopping ??= spire.stop().finally(() => process.exit(0)));
  process.once("SIGTERM", () => void stop());
  process.once("SIGINT", () => void stop());
  send({ ready: { binDir: spire.binDir, dir: spire.dir, domains: spire.domains().map(describe) } });

  const handlers: Record<string, (args: Record<string, unknown>) => Promise<unknown>> = {
    createEntry: args => spire.createEntry(args as unknown as SpireEntryOptions),
    deleteEntry: async args => {
      await spire.deleteEntry(args as unknown as SpireEntry);
      return null;
    },
    addDomain: async args => describe(await spire.addDomain(String(args.trustDomain), { federate: args.federate !== false })),
    pathSelectors: async args => pathSelectors(String(args.binary)),
  };

  const lines = createInterface({ input: process.stdin });
  lines.on("line", line => {
    if (!line.trim()) return;
    let request: { id?: number; op?: string; args?: Record<string, unknown> };
    try {
      request = JSON.parse(line) as typeof request;
    } catch {
      send({ error: `not JSON: ${line}` });
      return;
    }
    const handler = handlers[request.op ?? ""];
    if (!handler) {
      send({ id: request.id, error: `unknown op ${JSON.stringify(request.op)} (known: ${Object.keys(handlers).join(", ")})` });
      return;
    }
    handler(request.args ?? {}).then(
      result => send({ id: request.id, result: result ?? null }),
      (error: unknown) => send({ id: request.id, error: error instanceof Error ? error.message : String(error) }),
    );
  });
  lines.once("close", () => void stop());
}

void main();
