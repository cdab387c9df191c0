/**
 * Fakes of the seed's (v0) registry peers, served by real grpc-js servers on 127.0.0.1 (through
 * startTestServer, so closeAll shuts them down):
 *   - startFakeNsmrs: an in-memory floating registry (NSMRS) with the seed's naming
 *     ("name_url" with ':' as '_'), RegisterNSE / BulkRegisterNSE / RemoveNSE / FindNetworkService;
 *   - startFakeRegistry: a NetworkServiceDiscovery (a remote proxy registry or a local registry) that
 *     answers with what the test gives it;
 * plus openBidiStream, a client for BulkRegisterNSE-like calls. Call closeBidiStreams() from
 * test.afterEach.always BEFORE closeAll(): it cancels streams a test left open, then throws.
 */
import {
  Client,
  Metadata,
  type ServerDuplexStream,
  type ServerUnaryCall,
  type StatusObject,
  type sendUnaryData,
  credentials,
  status,
} from "@grpc/grpc-js";
import {
  type FindNetworkServiceRequest,
  FindNetworkServiceResponse,
  type NSERegistration,
  NetworkServiceDiscoveryService,
  NetworkServiceRegistryService,
  type RemoveNSERequest,
} from "../../generated/seed/registry.js";
import type { Empty } from "../../generated/seed/google/protobuf/empty.js";
import { type Method, type TestServer, receivedMessages, startTestServer } from "./grpc.js";

/** An error a fake answers with. */
export interface FakeError {
  code: status;
  details: string;
}

export const isFakeError = (value: unknown): value is FakeError =>
  typeof value === "object" && value !== null && "code" in value && "details" in value && !("networkServiceManagers" in value);

function fail(callback: sendUnaryData<never>, error: FakeError): void {
  callback(Object.assign(new Error(error.details), { code: error.code, details: error.details, metadata: new Metadata() }));
}

// ---------------------------------------------------------------------------------------------
// NSMRS

export interface FakeNsmrs {
  readonly server: TestServer;
  readonly address: string;
  readonly port: number;
  /** Registered endpoints by NSE name, as stored (NSMRS-renamed NSMgr). */
  readonly endpoints: Map<string, NSERegistration>;
  /** Every RegisterNSE request, as received. */
  readonly registered: NSERegistration[];
  /** Every BulkRegisterNSE message, as received. */
  readonly bulkReceived: NSERegistration[];
  /** Every RemoveNSE request's endpoint name. */
  readonly removed: string[];
  /** Every FindNetworkService request. */
  readonly finds: FindNetworkServiceRequest[];
  /** While true, bulk messages are stored but not answered (a crash between receive and ack). */
  holdBulkAcks: boolean;
  /** Bulk streams currently open. */
  openBulkStreams(): number;
  kill(): void;
  stop(): Promise<void>;
}

/** The name NSMRS gives an NSMgr: "<name>_<url>" with every ':' as '_'. */
export function nsmrsName(name: string, url: string): string {
  return `${name}_${url}`.replaceAll(":", "_");
}

function prepare(reg: NSERegistration): NSERegistration {
  const nsm = reg.networkServiceManager ?? { name: "", url: "", state: "" };
  const name = nsmrsName(nsm.name, nsm.url);
  return {
    ...reg,
    networkServiceManager: { ...nsm, name },
    ...(reg.networkServiceEndpoint ? { networkServiceEndpoint: { ...reg.networkServiceEndpoint, networkServiceManagerName: name } } : {}),
  };
}

export async function startFakeNsmrs(options: { port?: number } = {}): Promise<FakeNsmrs> {
  const endpoints = new Map<string, NSERegistration>();
  const registered: NSERegistration[] = [];
  const bulkReceived: NSERegistration[] = [];
  const removed: string[] = [];
  const finds: FindNetworkServiceRequest[] = [];
  const bulkStreams = new Set<ServerDuplexStream<NSERegistration, NSERegistration>>();
  const fake = { holdBulkAcks: false };

  const registry = {
    registerNse(call: ServerUnaryCall<NSERegistration, NSERegistration>, callback: sendUnaryData<NSERegistration>) {
      registered.push(call.request);
      const reg = prepare(call.request);
      const name = reg.networkServiceEndpoint?.name ?? "";
      if (endpoints.has(name)) return fail(callback, { code: status.ALREADY_EXISTS, details: `NSE ${name} already exists` });
      endpoints.set(name, reg);
      callback(null, reg);
    },
    bulkRegisterNse(call: ServerDuplexStream<NSERegistration, NSERegistration>) {
      bulkStreams.add(call);
      const done = () => bulkStreams.delete(call);
      call.on("data", (message: NSERegistration) => {
        bulkReceived.push(message);
        const reg = prepare(message);
        endpoints.set(reg.networkServiceEndpoint?.name ?? "", reg);
        if (!fake.holdBulkAcks) call.write(reg);
      });
      call.on("end", () => {
        done();
        call.end();
      });
      call.on("error", done);
      call.on("cancelled", done);
    },
    removeNse(call: ServerUnaryCall<RemoveNSERequest, Empty>, callback: sendUnaryData<Empty>) {
      const name = call.request.networkServiceEndpointName;
      removed.push(name);
      if (!endpoints.delete(name)) return fail(callback, { code: status.NOT_FOUND, details: `endpoint ${name} not found` });
      callback(null, {});
    },
  };
  const discovery = {
    findNetworkService(call: ServerUnaryCall<FindNetworkServiceRequest, FindNetworkServiceResponse>, callback: sendUnaryData<FindNetworkServiceResponse>) {
      finds.push(call.request);
      const found = [...endpoints.values()].filter(r => r.networkServiceEndpoint?.networkServiceName === call.request.networkServiceName);
      const first = found[0];
      if (!first) return fail(callback, { code: status.NOT_FOUND, details: `no NetworkService with name: ${call.request.networkServiceName}` });
      callback(
        null,
        FindNetworkServiceResponse.fromPartial({
          ...(first.networkService ? { networkService: first.networkService } : {}),
          networkServiceManagers: Object.fromEntries(found.map(r => [r.networkServiceManager?.name ?? "", r.networkServiceManager ?? {}])),
          networkServiceEndpoints: found.map(r => r.networkServiceEndpoint ?? {}),
        }),
      );
    },
  };
  const server = await startTestServer(
    [
      [NetworkServiceRegistryService, registry],
      [NetworkServiceDiscoveryService, discovery],
    ],
    options.port ?? 0,
  );
  return Object.assign(fake, {
    server,
    address: server.address,
    port: server.port,
    endpoints,
    registered,
    bulkReceived,
    removed,
    finds,
    openBulkStreams: () => bulkStreams.size,
    kill: () => server.kill(),
    stop: () => server.stop(),
  });
}

// ---------------------------------------------------------------------------------------------
// NetworkServiceDiscovery (a remote proxy registry, or the local registry)

export type FindAnswer = (request: FindNetworkServiceRequest) => FindNetworkServiceResponse | FakeError;

export interface FakeRegistry {
  readonly server: TestServer;
  readonly address: string;
  readonly port: number;
  /** Every request, as received. */
  readonly requests: FindNetworkServiceRequest[];
}

export async function startFakeRegistry(answer: FindAnswer, options: { port?: number } = {}): Promise<FakeRegistry> {
  const requests: FindNetworkServiceRequest[] = [];
  const server = await startTestServer(
    [
      [
        NetworkServiceDiscoveryService,
        {
          findNetworkService(call: ServerUnaryCall<FindNetworkServiceRequest, FindNetworkServiceResponse>, callback: sendUnaryData<FindNetworkServiceResponse>) {
            requests.push(call.request);
            const result = answer(call.request);
            if (isFakeError(result)) fail(callback, result);
            else callback(null, result);
          },
        },
      ],
    ],
    options.port ?? 0,
  );
  return { server, address: server.address, port: server.port, requests };
}

// ---------------------------------------------------------------------------------------------
// Bidi client

export interface BidiHandle<Req, Res> {
  readonly received: Res[];
  write(message: Req): void;
  /** Half-close. */
  end(): void;
  /** The next message not yet taken; rejects on timeout or when the stream ends first. */
  next(timeoutMs?: number): Promise<Res>;
  readonly status: Promise<StatusObject>;
  cancel(): void;
}

const bidiClients = new Map<string, Client>();
const openBidi = new Set<BidiHandle<unknown, unknown>>();

export function openBidiStream<Req, Res>(address: string, method: Method<Req, Res>, options: { deadlineMs?: number } = {}): BidiHandle<Req, Res> {
  let client = bidiClients.get(address);
  if (!client) {
    client = new Client(address, credentials.createInsecure());
    bidiClients.set(address, client);
  }
  const call = client.makeBidiStreamRequest(method.path, method.requestSerialize, method.responseDeserialize, new Metadata(), {
    deadline: options.deadlineMs === undefined ? Infinity : Date.now() + options.deadlineMs,
  });
  const handle: BidiHandle<Req, Res> = {
    ...receivedMessages<Res>(call, method.path, () => openBidi.delete(handle as BidiHandle<unknown, unknown>)),
    write: message => {
      call.write(message);
    },
    end: () => call.end(),
    cancel: () => call.cancel(),
  };
  openBidi.add(handle as BidiHandle<unknown, unknown>);
  return handle;
}

/** Cancels bidi streams a test left open and closes their clients; throws if any was left open. */
export async function closeBidiStreams(): Promise<void> {
  const leftOpen = openBidi.size;
  for (const s of openBidi) s.cancel();
  openBidi.clear();
  for (const c of bidiClients.values()) c.close();
  bidiClients.clear();
  if (leftOpen > 0) throw new Error(`${leftOpen} bidi stream(s) were left open by the test`);
}
