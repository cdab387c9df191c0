/**
 * Test-side gRPC: real grpc-js servers on 127.0.0.1 port 0 and plain clients built from the generated
 * method definitions. Every server and client a test opens is closed by `closeAll` (call it from
 * test.afterEach.always) which fails the test if a stream is still open.
 */
import {
  Client,
  Metadata,
  Server,
  ServerCredentials,
  type ServiceDefinition,
  type ServiceError,
  type StatusObject,
  type UntypedServiceImplementation,
  credentials,
} from "@grpc/grpc-js";

export interface Method<Req, Res> {
  path: string;
  requestSerialize: (value: Req) => Buffer;
  responseDeserialize: (bytes: Buffer) => Res;
}

export interface TestServer {
  readonly address: string;
  readonly port: number;
  /** Graceful stop. */
  stop(): Promise<void>;
  /** Abrupt stop: every open call is cut, like a process dying. */
  kill(): void;
}

const servers = new Set<Server>();
const clients = new Map<string, Client>();
const openStreams = new Set<StreamHandle<unknown>>();

export async function startTestServer(
  services: [ServiceDefinition, UntypedServiceImplementation][],
  port = 0,
  host = "127.0.0.1",
  serverCredentials: ServerCredentials = ServerCredentials.createInsecure(),
): Promise<TestServer> {
  const server = new Server();
  for (const [definition, implementation] of services) server.addService(definition, implementation);
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`, serverCredentials, (error, p) => (error ? reject(error) : resolve(p))),
  );
  servers.add(server);
  return {
    address: host.includes(":") ? `[${host}]:${bound}` : `${host}:${bound}`,
    port: bound,
    stop: () =>
      new Promise<void>(resolve => {
        servers.delete(server);
        server.tryShutdown(() => resolve());
      }),
    kill: () => {
      servers.delete(server);
      server.forceShutdown();
    },
  };
}

function clientFor(address: string): Client {
  let client = clients.get(address);
  if (!client) {
    client = new Client(address, credentials.createInsecure(), {
      "grpc.initial_reconnect_backoff_ms": 50,
      "grpc.max_reconnect_backoff_ms": 200,
    });
    clients.set(address, client);
  }
  return client;
}

export interface CallOptions {
  /** Relative deadline; Infinity sends none. Default 10 s. */
  deadlineMs?: number;
  metadata?: Record<string, string>;
  /** A client of the test's own (e.g. mTLS); default a plaintext one per address. */
  client?: Client;
}

function metadataOf(options: CallOptions): Metadata {
  const metadata = new Metadata();
  for (const [k, v] of Object.entries(options.metadata ?? {})) metadata.set(k, v);
  return metadata;
}

export function callUnary<Req, Res>(address: string, method: Method<Req, Res>, request: Req, options: CallOptions = {}): Promise<Res> {
  return new Promise((resolve, reject) => {
    (options.client ?? clientFor(address)).makeUnaryRequest(
      method.path,
      method.requestSerialize,
      method.responseDeserialize,
      request,
      metadataOf(options),
      { deadline: options.deadlineMs === Infinity ? Infinity : Date.now() + (options.deadlineMs ?? 10_000) },
      (error, value) => (error ? reject(error) : resolve(value as Res)),
    );
  });
}

/** Awaits a failing call and returns its status (the test fails if the call succeeds). */
export async function callError<Req, Res>(address: string, method: Method<Req, Res>, request: Req, options: CallOptions = {}): Promise<ServiceError> {
  try {
    const value = await callUnary(address, method, request, options);
    throw new Error(`expected ${method.path} to fail, it answered ${JSON.stringify(value)}`);
  } catch (error: unknown) {
    if ((error as ServiceError).code === undefined) throw error;
    return error as ServiceError;
  }
}

export interface StreamHandle<Res> {
  readonly received: Res[];
  /** The next message not yet taken by next(); rejects on timeout or when the stream ends first. */
  next(timeoutMs?: number): Promise<Res>;
  /** The final status (OK or error). */
  readonly status: Promise<StatusObject>;
  cancel(): void;
}

export function openServerStream<Req, Res>(address: string, method: Method<Req, Res>, request: Req, options: CallOptions = {}): StreamHandle<Res> {
  const call = (options.client ?? clientFor(address)).makeServerStreamRequest(method.path, method.requestSerialize, method.responseDeserialize, request, metadataOf(options), {
    deadline: options.deadlineMs === undefined ? Infinity : Date.now() + options.deadlineMs,
  });
  const handle: StreamHandle<Res> = {
    ...receivedMessages<Res>(call, method.path, () => openStreams.delete(handle as StreamHandle<unknown>)),
    cancel() {
      call.cancel();
    },
  };
  openStreams.add(handle as StreamHandle<unknown>);
  return handle;
}

/** A client stream's side that reads: what it received, taken one at a time by next(), and its status. */
export function receivedMessages<Res>(
  call: NodeJS.EventEmitter,
  path: string,
  onEnd: () => void,
): Pick<StreamHandle<Res>, "received" | "next" | "status"> {
  const received: Res[] = [];
  let taken = 0;
  let ended = false;
  const waiters: (() => void)[] = [];
  const wake = () => waiters.splice(0).forEach(w => w());
  call.on("data", (value: Res) => {
    received.push(value);
    wake();
  });
  call.on("error", () => undefined);
  const status = new Promise<StatusObject>(resolve =>
    call.on("status", (s: StatusObject) => {
      ended = true;
      onEnd();
      wake();
      resolve(s);
    }),
  );
  const next = async (timeoutMs = 5000): Promise<Res> => {
    const deadline = Date.now() + timeoutMs;
    while (taken >= received.length) {
      if (ended) throw new Error(`${path}: stream ended before message ${taken + 1}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${path}: no message ${taken + 1} within ${timeoutMs} ms`);
      await new Promise<void>(resolve => {
        const t = setTimeout(resolve, left);
        waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return received[taken++] as Res;
  };
  return { received, next, status };
}

/** Closes every client and server the test opened; throws if a client stream was left open. */
export async function closeAll(): Promise<void> {
  const leftOpen = openStreams.size;
  for (const s of openStreams) s.cancel();
  openStreams.clear();
  for (const c of clients.values()) c.close();
  clients.clear();
  await Promise.all([...servers].map(s => new Promise<void>(resolve => s.tryShutdown(() => resolve()))));
  servers.clear();
  if (leftOpen > 0) throw new Error(`${leftOpen} stream(s) were left open by the test`);
}
