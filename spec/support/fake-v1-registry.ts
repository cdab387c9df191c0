/**
 * An in-memory NSM v1 registry for tests: NetworkServiceRegistry and NetworkServiceEndpointRegistry
 * (Register, Find with watch, Unregister) on a real grpc-js server at 127.0.0.1 port 0, closed by
 * closeAll. Like the SDK's memory registry it stamps initial_registration_time and a default
 * expiration_time (one minute) when the registrant set none, sends the current matches first and then,
 * to watchers, every later registration and every unregistration (deleted: true). It records each call
 * with its metadata, can fail the next call of a method, and can end its watch streams with OK.
 */
import { Metadata, type ServerCredentials, type ServerUnaryCall, type ServerWritableStream, type sendUnaryData, status as GrpcStatus } from "@grpc/grpc-js";
import {
  type NetworkService,
  type NetworkServiceEndpoint,
  NetworkServiceEndpointRegistryService,
  type NetworkServiceEndpointQuery,
  type NetworkServiceEndpointResponse,
  type NetworkServiceQuery,
  NetworkServiceRegistryService,
  type NetworkServiceResponse,
} from "../../generated/nsm/registry.js";
import type { Empty } from "../../generated/nsm/google/protobuf/empty.js";
import { type TestServer, startTestServer } from "./grpc.js";

export type RegistryMethod = "ns.register" | "ns.find" | "ns.unregister" | "nse.register" | "nse.find" | "nse.unregister";

export interface RecordedCall {
  method: RegistryMethod;
  request: unknown;
  /** Text metadata, lower-case keys, first value. */
  metadata: Record<string, string>;
}

export interface FakeV1Registry extends TestServer {
  readonly nss: ReadonlyMap<string, NetworkService>;
  readonly nses: ReadonlyMap<string, NetworkServiceEndpoint>;
  readonly calls: RecordedCall[];
  /** Calls of one method, oldest first. */
  callsOf(method: RegistryMethod): RecordedCall[];
  /** Watch streams (watch: true) currently open. */
  openWatches(): number;
  /** The next call of `method` fails with `code`. */
  failNext(method: RegistryMethod, code: GrpcStatus, message?: string): void;
  /** Registers / unregisters as if through gRPC (watchers are told), without a call. */
  putNse(nse: NetworkServiceEndpoint): NetworkServiceEndpoint;
  deleteNse(name: string): void;
  putNs(ns: NetworkService): NetworkService;
  deleteNs(name: string): void;
  /** Ends every open watch stream with OK (a graceful shutdown of the registry's streams). */
  endWatches(): void;
}

type Watcher<Q, R> = { query: Q; call: ServerWritableStream<Q, R> };

/** `credentials`: serve mTLS (secured tests); default plaintext. `port`: 0 picks a free one (a restarted registry passes its old one). */
export async function startFakeV1Registry(credentials?: ServerCredentials, port = 0): Promise<FakeV1Registry> {
  const nss = new Map<string, NetworkService>();
  const nses = new Map<string, NetworkServiceEndpoint>();
  const calls: RecordedCall[] = [];
  const failures = new Map<RegistryMethod, { code: GrpcStatus; message: string }>();
  const nsWatchers = new Set<Watcher<NetworkServiceQuery, NetworkServiceResponse>>();
  const nseWatchers = new Set<Watcher<NetworkServiceEndpointQuery, NetworkServiceEndpointResponse>>();

  const record = (method: RegistryMethod, request: unknown, metadata: Metadata) => {
    const text: Record<string, string> = {};
    for (const [k, v] of Object.entries(metadata.getMap())) if (typeof v === "string") text[k.toLowerCase()] = v;
    calls.push({ method, request, metadata: text });
    const failure = failures.get(method);
    if (failure) failures.delete(method);
    return failure;
  };
  const statusError = (f: { code: GrpcStatus; message: string }) => Object.assign(new Error(f.message), { code: f.code, details: f.message, metadata: new Metadata() });

  const nseMatches = (q: NetworkServiceEndpoint | undefined, nse: NetworkServiceEndpoint) =>
    q === undefined ||
    ((q.name === "" || q.name === nse.name) &&
      (q.networkServiceNames.length === 0 || q.networkServiceNames.some(n => nse.networkServiceNames.includes(n))) &&
      (q.url === "" || q.url === nse.url));
  const nsMatches = (q: NetworkService | undefined, ns: NetworkService) => q === undefined || q.name === "" || q.name === ns.name;

  const putNse = (nse: NetworkServiceEndpoint) => {
    const now = Date.now();
    const stored: NetworkServiceEndpoint = {
      ...nse,
      initialRegistrationTime: nse.initialRegistrationTime ?? nses.get(nse.name)?.initialRegistrationTime ?? timestamp(now),
      expirationTime: nse.expirationTime ?? timestamp(now + 60_000),
    };
    nses.set(stored.name, stored);
    for (const w of nseWatchers) if (nseMatches(w.query.networkServiceEndpoint, stored)) w.call.write({ networkServiceEndpoint: stored, deleted: false });
    return stored;
  };
  const deleteNse = (name: string) => {
    const stored = nses.get(name);
    if (!stored) return;
    nses.delete(name);
    for (const w of nseWatchers) if (nseMatches(w.query.networkServiceEndpoint, stored)) w.call.write({ networkServiceEndpoint: stored, deleted: true });
  };
  const putNs = (ns: NetworkService) => {
    nss.set(ns.name, ns);
    for (const w of nsWatchers) if (nsMatches(w.query.networkService, ns)) w.call.write({ networkService: ns, deleted: false });
    return ns;
  };
  const deleteNs = (name: string) => {
    const stored = nss.get(name);
    if (!stored) return;
    nss.delete(name);
    for (const w of nsWatchers) if (nsMatches(w.query.networkService, stored)) w.call.write({ networkService: stored, deleted: true });
  };

  function unary<Req, Res>(method: RegistryMethod, act: (req: Req) => Res) {
    return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
      const failure = record(method, call.request, call.metadata);
      if (failure) return callback(statusError(failure));
      callback(null, act(call.request));
    };
  }

  function find<Q extends { watch: boolean }, R>(method: RegistryMethod, watchers: Set<Watcher<Q, R>>, current: (q: Q) => R[]) {
    return (call: ServerWritableStream<Q, R>) => {
      const failure = record(method, call.request, call.metadata);
      if (failure) return call.emit("error", { code: failure.code, details: failure.message, metadata: new Metadata() });
      for (const r of current(call.request)) call.write(r);
      if (!call.request.watch) return call.end();
      const watcher = { query: call.request, call };
      watchers.add(watcher);
      call.on("cancelled", () => watchers.delete(watcher));
    };
  }

  const server = await startTestServer([
    [
      NetworkServiceRegistryService,
      {
        register: unary<NetworkService, NetworkService>("ns.register", putNs),
        find: find<NetworkServiceQuery, NetworkServiceResponse>("ns.find", nsWatchers, q =>
          [...nss.values()].filter(ns => nsMatches(q.networkService, ns)).map(ns => ({ networkService: ns, deleted: false })),
        ),
        unregister: unary<NetworkService, Empty>("ns.unregister", ns => (deleteNs(ns.name), {})),
      },
    ],
    [
      NetworkServiceEndpointRegistryService,
      {
        register: unary<NetworkServiceEndpoint, NetworkServiceEndpoint>("nse.register", putNse),
        find: find<NetworkServiceEndpointQuery, NetworkServiceEndpointResponse>("nse.find", nseWatchers, q =>
          [...nses.values()].filter(nse => nseMatches(q.networkServiceEndpoint, nse)).map(nse => ({ networkServiceEndpoint: nse, deleted: false })),
        ),
        unregister: unary<NetworkServiceEndpoint, Empty>("nse.unregister", nse => (deleteNse(nse.name), {})),
      },
    ],
  ], port, "127.0.0.1", credentials);

  return {
    ...server,
    nss,
    nses,
    calls,
    callsOf: method => calls.filter(c => c.method === method),
    openWatches: () => nsWatchers.size + nseWatchers.size,
    failNext: (method, code, message = `${method} failed on purpose`) => void failures.set(method, { code, message }),
    putNse,
    deleteNse,
    putNs,
    deleteNs,
    endWatches() {
      for (const w of [...nsWatchers, ...nseWatchers]) w.call.end();
      nsWatchers.clear();
      nseWatchers.clear();
    },
  };
}

export function timestamp(ms: number): { seconds: string; nanos: number } {
  return { seconds: String(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1_000_000 };
}
