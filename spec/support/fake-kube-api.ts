/**
 * A list/watch server speaking the Kubernetes API's wire format for Nodes, on 127.0.0.1 port 0, for
 * tests where no kube-apiserver runs: `GET /api/v1/nodes` answers a NodeList with its
 * resourceVersion; `GET /api/v1/nodes?watch=true&resourceVersion=N` streams newline-delimited JSON
 * watch events (ADDED / MODIFIED / DELETED) after N, and a 410 ERROR event when N is older than the
 * kept history, as kube-apiserver does. Tests change nodes, end every open watch, refuse requests
 * (503) and read the requests' Authorization headers.
 */
import { type IncomingMessage, type Server, type ServerResponse, createServer } from "node:http";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface NodeAddress {
  readonly type: "InternalIP" | "ExternalIP" | "Hostname";
  readonly address: string;
}

interface WireNode {
  kind: "Node";
  apiVersion: "v1";
  metadata: { name: string; uid: string; resourceVersion: string };
  status: { addresses: NodeAddress[] };
}

interface WatchEvent {
  readonly rv: number;
  readonly type: "ADDED" | "MODIFIED" | "DELETED";
  readonly node: WireNode;
}

export interface FakeKubeApi {
  /** http://127.0.0.1:port */
  readonly url: string;
  /** A kubeconfig file (token auth) pointing at this server, for KUBECONFIG. */
  readonly kubeconfigPath: string;
  readonly token: string;
  setNode(name: string, addresses: NodeAddress[]): void;
  deleteNode(name: string): void;
  /** Ends every open watch response (as a watch timeout would). */
  endWatches(): void;
  /** While true, every request is answered 503 and open watches are ended. */
  refuse(on: boolean): void;
  /** Forgets watch history: a watch from an older resourceVersion gets 410 Gone. */
  compact(): void;
  /** Requests seen: method, path with query, Authorization header. */
  readonly requests: { path: string; watch: boolean; authorization: string | undefined }[];
  openWatches(): number;
  close(): Promise<void>;
}

export async function startFakeKubeApi(): Promise<FakeKubeApi> {
  const token = "pnsmgr-test-token";
  const nodes = new Map<string, WireNode>();
  let history: WatchEvent[] = [];
  let oldestKept = 0;
  let rv = 100;
  let refusing = false;
  const watches = new Set<{ res: ServerResponse; from: number }>();
  const requests: FakeKubeApi["requests"] = [];

  const line = (event: WatchEvent) => `${JSON.stringify({ type: event.type, object: event.node })}\n`;
  const record = (type: WatchEvent["type"], node: WireNode) => {
    const event = { rv, type, node };
    history.push(event);
    for (const w of watches) if (event.rv > w.from) w.res.write(line(event));
  };

  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    const watch = url.searchParams.get("watch") === "true" || url.searchParams.get("watch") === "1";
    requests.push({ path: `${url.pathname}${url.search}`, watch, authorization: req.headers.authorization });
    const send = (code: number, body: unknown) => {
      res.writeHead(code, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    if (refusing) return send(503, { kind: "Status", apiVersion: "v1", status: "Failure", reason: "ServiceUnavailable", code: 503 });
    if (req.headers.authorization !== `Bearer ${token}`) return send(401, { kind: "Status", apiVersion: "v1", status: "Failure", reason: "Unauthorized", code: 401 });
    if (req.method !== "GET" || url.pathname !== "/api/v1/nodes") return send(404, { kind: "Status", apiVersion: "v1", status: "Failure", reason: "NotFound", code: 404 });
    if (!watch) {
      return send(200, { kind: "NodeList", apiVersion: "v1", metadata: { resourceVersion: String(rv) }, items: [...nodes.values()] });
    }
    const from = Number(url.searchParams.get("resourceVersion") ?? "0");
    res.writeHead(200, { "content-type": "application/json", "transfer-encoding": "chunked" });
    res.flushHeaders();
    if (from < oldestKept) {
      const gone = { kind: "Status", apiVersion: "v1", status: "Failure", reason: "Expired", code: 410, message: `too old resource version: ${from} (${oldestKept})` };
      res.end(`${JSON.stringify({ type: "ERROR", object: gone })}\n`);
      return;
    }
    for (const event of history) if (event.rv > from) res.write(line(event));
    const entry = { res, from };
    watches.add(entry);
    res.on("close", () => watches.delete(entry));
  });
  await new Promise<void>(resolve => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no address");
  const url = `http://127.0.0.1:${address.port}`;

  const dir = mkdtempSync(join(tmpdir(), "pnsmgr-fake-kube-"));
  const kubeconfigPath = join(dir, "kubeconfig");
  writeFileSync(
    kubeconfigPath,
    [
      "apiVersion: v1",
      "kind: Config",
      "clusters: [{name: fake, cluster: {server: '" + url + "', insecure-skip-tls-verify: true}}]",
      "users: [{name: fake, user: {token: " + token + "}}]",
      "contexts: [{name: fake, context: {cluster: fake, user: fake}}]",
      "current-context: fake",
      "",
    ].join("\n"),
  );

  const endWatches = () => {
    for (const w of watches) w.res.end();
    watches.clear();
  };

  return {
    url,
    kubeconfigPath,
    token,
    requests,
    setNode(name, addresses) {
      rv++;
      const existing = nodes.get(name);
      const node: WireNode = { kind: "Node", apiVersion: "v1", metadata: { name, uid: existing?.metadata.uid ?? `uid-${name}`, resourceVersion: String(rv) }, status: { addresses } };
      nodes.set(name, node);
      record(existing ? "MODIFIED" : "ADDED", node);
    },
    deleteNode(name) {
      const node = nodes.get(name);
      if (!node) return;
      rv++;
      nodes.delete(name);
      record("DELETED", { ...node, metadata: { ...node.metadata, resourceVersion: String(rv) } });
    },
    endWatches,
    refuse(on) {
      refusing = on;
      if (on) endWatches();
    },
    compact() {
      history = [];
      oldestKept = rv;
    },
    openWatches: () => watches.size,
    async close() {
      endWatches();
      server.closeAllConnections();
      await new Promise<void>(resolve => server.close(() => resolve()));
    },
  };
}
