/**
 * Starts fake-v1-registry-main.ts as a child process (tsx) and waits until it serves: a registry a
 * test can really kill (SIGKILL) and start again on the same port. Children left over are killed when
 * the test process exits.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { NetworkServiceEndpoint } from "../../generated/nsm/registry.js";
import { ROOT } from "./root.js";

const children = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of children) child.kill("SIGKILL");
});

export interface RegistryProcess {
  readonly port: number;
  readonly address: string;
  /** SIGKILL, resolved once the process is gone. */
  kill(): Promise<void>;
  /** Sends a signal (SIGSTOP: a registry that hangs; SIGCONT: back). */
  signal(signal: NodeJS.Signals): void;
}

/** `port` 0: any free port; `nses`: the entries it starts with (kept across restarts, as registry-k8s does). */
export function startRegistryProcess(port: number, nses: readonly NetworkServiceEndpoint[], startupMs = 20_000): Promise<RegistryProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", "spec/support/fake-v1-registry-main.ts", String(port)], {
    cwd: ROOT,
    env: { ...process.env, FAKE_REGISTRY_NSES: JSON.stringify(nses.map(nse => NetworkServiceEndpoint.toJSON(nse))) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.add(child);
  const exited = new Promise<void>(resolve => child.once("exit", () => (children.delete(child), resolve())));
  let output = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => (child.kill("SIGKILL"), reject(new Error(`registry process did not start within ${startupMs} ms: ${output}`))), startupMs);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const bound = /listening (\d+)/.exec(output)?.[1];
      if (bound === undefined) return;
      clearTimeout(timer);
      resolve({
        port: Number(bound),
        address: `127.0.0.1:${bound}`,
        kill: async () => {
          child.kill("SIGKILL");
          await exited;
        },
        signal: signal => void child.kill(signal),
      });
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    void exited.then(() => (clearTimeout(timer), reject(new Error(`registry process exited before serving: ${output}`))));
  });
}
