/**
 * A real Kubernetes API server for tests: etcd (Debian's etcd-server) and kube-apiserver (built once
 * by scripts/ensure-kube-apiserver.sh) as child processes on 127.0.0.1, with RBAC on and two static
 * tokens: an admin (system:masters) and pnsmgr's ServiceAccount `system:serviceaccount:<ns>:<sa>`,
 * which can do only what RBAC objects grant it. `found()` says why it cannot run when a binary is missing.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { generateKeyPairSync } from "node:crypto";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { freePort } from "./ports.js";

export const KUBE_VERSION = "v1.34.4";

function kubeApiserverPath(): string {
  const cache = process.env.PNSMGR_CACHE_DIR ?? join(homedir(), ".cache", "pnsmgr");
  return join(cache, `kube-apiserver-${KUBE_VERSION}`, "bin", "kube-apiserver");
}

function etcdPath(): string | undefined {
  try {
    return execFileSync("sh", ["-c", "command -v etcd"], { encoding: "utf8" }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** The binaries, or why there are none. */
export function found(): { kubeApiserver: string; etcd: string } | { missing: string } {
  const kubeApiserver = kubeApiserverPath();
  const etcd = etcdPath();
  if (!existsSync(kubeApiserver)) return { missing: `no ${kubeApiserver} (bash scripts/ensure-kube-apiserver.sh builds it once, ~12 min)` };
  if (etcd === undefined) return { missing: "no etcd on PATH (apt-get install etcd-server, or bash scripts/ensure-kube-apiserver.sh)" };
  return { kubeApiserver, etcd };
}

export interface KubeApiserver {
  readonly server: string;
  readonly admin: KubeConfig;
  /** A kubeconfig file authenticating as the ServiceAccount, for KUBECONFIG. */
  readonly serviceAccountKubeconfig: string;
  serviceAccountConfig(): KubeConfig;
  stop(): Promise<void>;
}

export async function startKubeApiserver(serviceAccount: { namespace: string; name: string }): Promise<KubeApiserver> {
  const bins = found();
  if ("missing" in bins) throw new Error(bins.missing);
  const dir = mkdtempSync(join(tmpdir(), "pnsmgr-kube-apiserver-"));
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  writeFileSync(join(dir, "sa.key"), privateKey.export({ type: "pkcs8", format: "pem" }));
  writeFileSync(join(dir, "sa.pub"), publicKey.export({ type: "spki", format: "pem" }));
  const adminToken = `admin-${process.pid}`;
  const saToken = `sa-${process.pid}`;
  const saUser = `system:serviceaccount:${serviceAccount.namespace}:${serviceAccount.name}`;
  writeFileSync(
    join(dir, "tokens.csv"),
    `${adminToken},admin,admin-uid,"system:masters"\n${saToken},${saUser},sa-uid,"system:serviceaccounts,system:serviceaccounts:${serviceAccount.namespace}"\n`,
  );
  const [etcdClient, etcdPeer, securePort] = [await freePort(), await freePort(), await freePort()];
  const children: ChildProcess[] = [];
  let log = "";
  const run = (file: string, args: string[]) => {
    const child = spawn(file, args, { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
    child.stdout?.on("data", (chunk: Buffer) => (log = (log + chunk.toString()).slice(-20_000)));
    child.stderr?.on("data", (chunk: Buffer) => (log = (log + chunk.toString()).slice(-20_000)));
    children.push(child);
    return child;
  };
  const stop = async () => {
    for (const child of [...children].reverse()) {
      if (child.exitCode !== null || child.signalCode !== null) continue;
      const exited = new Promise(resolve => child.once("exit", resolve));
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  run(bins.etcd, [
    "--data-dir", join(dir, "etcd"),
    "--listen-client-urls", `http://127.0.0.1:${etcdClient}`,
    "--advertise-client-urls", `http://127.0.0.1:${etcdClient}`,
    "--listen-peer-urls", `http://127.0.0.1:${etcdPeer}`,
  ]);
  run(bins.kubeApiserver, [
    `--etcd-servers=http://127.0.0.1:${etcdClient}`,
    `--secure-port=${securePort}`,
    "--bind-address=127.0.0.1",
    "--advertise-address=127.0.0.1",
    `--cert-dir=${join(dir, "certs")}`,
    `--token-auth-file=${join(dir, "tokens.csv")}`,
    "--authorization-mode=RBAC",
    "--service-account-issuer=https://kubernetes.default.svc",
    `--service-account-key-file=${join(dir, "sa.pub")}`,
    `--service-account-signing-key-file=${join(dir, "sa.key")}`,
    "--service-cluster-ip-range=10.96.0.0/16",
  ]);
  const server = `https://127.0.0.1:${securePort}`;
  const config = (user: string, token: string) => {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: "test", server, skipTLSVerify: true }],
      users: [{ name: user, token }],
      contexts: [{ name: "test", cluster: "test", user }],
      currentContext: "test",
    });
    return kc;
  };
  const admin = config("admin", adminToken);
  const serviceAccountKubeconfig = join(dir, "sa.kubeconfig");
  writeFileSync(
    serviceAccountKubeconfig,
    `apiVersion: v1\nkind: Config\nclusters: [{name: test, cluster: {server: '${server}', insecure-skip-tls-verify: true}}]\nusers: [{name: sa, user: {token: ${saToken}}}]\ncontexts: [{name: test, context: {cluster: test, user: sa}}]\ncurrent-context: test\n`,
  );
  // Ready when the admin can list nodes (the RBAC bootstrap roles are in place by then).
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (children.some(c => c.exitCode !== null)) {
      await stop();
      throw new Error(`etcd or kube-apiserver exited:\n${log}`);
    }
    try {
      const response = await admin.makeApiClient(CoreV1Api).listNode();
      if (Array.isArray(response.items)) break;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`kube-apiserver not ready within 60 s:\n${log}`);
    }
    await new Promise(r => setTimeout(r, 250));
  }
  return { server, admin, serviceAccountKubeconfig, serviceAccountConfig: () => config("sa", saToken), stop };
}
