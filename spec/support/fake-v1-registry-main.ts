/**
 * The fake v1 registry (fake-v1-registry.ts) as a process of its own, so a test can kill it with
 * SIGKILL and start it again on the same port, as a restarted registry pod. Arguments: the port (0:
 * any); FAKE_REGISTRY_NSES: a JSON list of NSEs it starts with (NSM's registry-k8s keeps its entries
 * across restarts in custom resources). Prints "listening PORT" once serving.
 */
import { NetworkServiceEndpoint } from "../../generated/nsm/registry.js";
import { startFakeV1Registry } from "./fake-v1-registry.js";

const registry = await startFakeV1Registry(undefined, Number(process.argv[2] ?? 0));
for (const nse of JSON.parse(process.env.FAKE_REGISTRY_NSES ?? "[]") as unknown[]) registry.putNse(NetworkServiceEndpoint.fromJSON(nse));
process.stdout.write(`listening ${registry.port}\n`);
