/**
 * The client side of transport/grpc: one grpc-js channel per next hop, reused by every call to it
 * (the seed dialled per call). It dials only Destinations the destination guard returned (lib/guard):
 * the pinned address as it is, with the name the caller gave as the :authority, so no second
 * resolution can move a call elsewhere. Channels are kept in least-recently-used order and the
 * oldest is closed past `maxChannels`. Calls carry the context's deadline and outgoing metadata;
 * unsubscribing cancels them. The next hop's response headers and trailers go to the elements that
 * asked for them (next-hop-response.ts).
 */
import { Client, type ChannelCredentials, type ChannelOptions, Metadata, credentials as grpcCredentials } from "@grpc/grpc-js";
import { Observable, type Subscriber } from "rxjs";
import type { CallContext } from "../../pipeline/context.js";
import { type Destination, type MethodDescriptor, type PinnedUpstream, outgoingMetadata } from "../../pipeline/upstream.js";
import { fromUpstreamError } from "./status.js";
import { nextHopResponseWatch } from "./next-hop-response.js";
import { type CallObservation, type GrpcType, observer } from "../../observability/observer.js";

export interface ClientPoolOptions {
  credentials?: ChannelCredentials;
  /** Credentials made for each destination dialled (mTLS: each remembers the peer verified there); wins over `credentials`. */
  credentialsFor?: (destination: Destination) => ChannelCredentials;
  maxChannels?: number;
  maxMessageBytes?: number;
  channelOptions?: ChannelOptions;
}

export interface ClientPool extends PinnedUpstream {
  /** Channels open (dialled address, and the authority when it differs), oldest first. */
  addresses(): string[];
  /**
   * New calls get new channels (new handshakes: a rotated SVID); calls already running on the old
   * channels go on until they end.
   */
  renew(): void;
}

/** How long a channel replaced by renew() stays open for calls that were starting on it. */
const RETIRE_AFTER_MS = 10_000;

/**
 * Reconnect quickly: a peer that restarts should be reachable again in well under a second. No channelz:
 * nothing reads it, and its per-call bookkeeping showed in the forwarding hop's CPU profile.
 */
const RECONNECT_OPTIONS: ChannelOptions = {
  "grpc.initial_reconnect_backoff_ms": 100,
  "grpc.max_reconnect_backoff_ms": 1000,
  "grpc.enable_channelz": 0,
};

export function createClientPool(options: ClientPoolOptions = {}): ClientPool {
  const channels = createChannels(options);
  return {
    addresses: () => channels.addresses(),
    renew: () => channels.renew(),
    unary: <Req, Res>(destination: Destination, method: MethodDescriptor<Req, Res>, request: Req, ctx: CallContext) => unaryCall(channels, destination, method, request, ctx),
    serverStream: <Req, Res>(destination: Destination, method: MethodDescriptor<Req, Res>, request: Req, ctx: CallContext) =>
      serverStreamCall(channels, destination, method, request, ctx),
    bidiStream: <Req, Res>(destination: Destination, method: MethodDescriptor<Req, Res>, requests: Observable<Req>, ctx: CallContext) =>
      bidiStreamCall(channels, destination, method, requests, ctx),
    close: () => channels.close(),
  };
}

/** The pool's channels: one per dialled address and authority, in least-recently-used order. */
interface Channels {
  /** The channel to dial `destination` on, made if there is none (closing the oldest past `maxChannels`). */
  get(destination: Destination): Client;
  addresses(): string[];
  renew(): void;
  close(): void;
}

function createChannels(options: ClientPoolOptions): Channels {
  const creds = options.credentials ?? grpcCredentials.createInsecure();
  const maxChannels = options.maxChannels ?? 256;
  const channelOptions: ChannelOptions = {
    ...RECONNECT_OPTIONS,
    ...(options.maxMessageBytes === undefined
      ? {}
      : { "grpc.max_receive_message_length": options.maxMessageBytes, "grpc.max_send_message_length": options.maxMessageBytes }),
    ...options.channelOptions,
  };
  const clients = new Map<string, Client>();
  /** Channels replaced by renew(), closed once the calls starting on them have started. */
  const retiring = new Map<NodeJS.Timeout, Client[]>();

  return {
    get(destination) {
      const { address, authority } = destination;
      const key = authority === address ? address : `${address} (${authority})`;
      const existing = clients.get(key);
      if (existing) {
        clients.delete(key);
        clients.set(key, existing);
        return existing;
      }
      const created = new Client(address, options.credentialsFor?.(destination) ?? creds, authority === address ? channelOptions : { ...channelOptions, "grpc.default_authority": authority });
      clients.set(key, created);
      if (clients.size > maxChannels) {
        const [oldest, evicted] = clients.entries().next().value as [string, Client];
        clients.delete(oldest);
        evicted.close();
      }
      return created;
    },

    addresses: () => [...clients.keys()],

    renew() {
      // New calls get new channels at once. The old ones are closed a little later: grpc-js lets calls
      // already started on a closed channel finish, but fails one still waiting for its per-call
      // credentials (our token) with "Channel closed before call started".
      const old = [...clients.values()];
      clients.clear();
      const timer = setTimeout(() => {
        retiring.delete(timer);
        for (const c of old) c.close();
      }, RETIRE_AFTER_MS);
      timer.unref();
      retiring.set(timer, old);
    },

    close() {
      for (const c of clients.values()) c.close();
      clients.clear();
      for (const [timer, old] of retiring) {
        clearTimeout(timer);
        for (const c of old) c.close();
      }
      retiring.clear();
    },
  };
}

function unaryCall<Req, Res>(channels: Channels, destination: Destination, method: MethodDescriptor<Req, Res>, request: Req, ctx: CallContext): Observable<Res> {
  return new Observable<Res>(subscriber => {
    const [metadata, observed] = outgoing(destination.authority, method.path, "unary", ctx);
    const response = nextHopResponseWatch(ctx);
    const call = channels.get(destination).makeUnaryRequest(
      method.path,
      method.requestSerialize,
      method.responseDeserialize,
      request,
      metadata,
      { deadline: ctx.deadline ?? Infinity },
      (error, value) =>
        response.settle(() => {
          observed?.end(error ? error.code : 0);
          if (error) subscriber.error(fromUpstreamError(error, destination.authority));
          else {
            observed?.received();
            subscriber.next(value as Res);
            subscriber.complete();
          }
        }),
    );
    response.watch(call);
    observed?.sent();
    return () => {
      observed?.end(1);
      call.cancel();
    };
  });
}

function serverStreamCall<Req, Res>(channels: Channels, destination: Destination, method: MethodDescriptor<Req, Res>, request: Req, ctx: CallContext): Observable<Res> {
  return new Observable<Res>(subscriber => {
    const [metadata, observed] = outgoing(destination.authority, method.path, "server_stream", ctx);
    const call = channels.get(destination).makeServerStreamRequest(
      method.path,
      method.requestSerialize,
      method.responseDeserialize,
      request,
      metadata,
      { deadline: ctx.deadline ?? Infinity },
    );
    observed?.sent();
    relayStream(call, subscriber, destination.authority, ctx, observed);
    return () => call.cancel();
  });
}

function bidiStreamCall<Req, Res>(channels: Channels, destination: Destination, method: MethodDescriptor<Req, Res>, requests: Observable<Req>, ctx: CallContext): Observable<Res> {
  return new Observable<Res>(subscriber => {
    const [metadata, observed] = outgoing(destination.authority, method.path, "bidi_stream", ctx);
    const call = channels.get(destination).makeBidiStreamRequest(
      method.path,
      method.requestSerialize,
      method.responseDeserialize,
      metadata,
      { deadline: ctx.deadline ?? Infinity },
    );
    relayStream(call, subscriber, destination.authority, ctx, observed);
    const sending = requests.subscribe({
      next: message => {
        call.write(message);
        observed?.sent();
      },
      error: () => call.cancel(),
      complete: () => call.end(),
    });
    return () => {
      sending.unsubscribe();
      call.cancel();
    };
  });
}

/**
 * Passes a stream's messages on, its error (as a status error naming `authority`), and an OK status as
 * completion. The next hop's headers and trailers are noted first (before completion or error), then
 * the stream is observed.
 */
function relayStream<Res>(call: NodeJS.EventEmitter, subscriber: Subscriber<Res>, authority: string, ctx: CallContext, observed: CallObservation | undefined): void {
  nextHopResponseWatch(ctx).watch(call);
  if (observed) observeStream(call, observed);
  call.on("data", (value: Res) => subscriber.next(value));
  call.on("error", (error: unknown) => subscriber.error(fromUpstreamError(error, authority)));
  call.on("status", (status: { code: number }) => {
    if (status.code === 0) subscriber.complete();
  });
}

function metadataOf(ctx: CallContext): Metadata {
  const metadata = new Metadata();
  for (const [key, value] of ctx.get(outgoingMetadata) ?? []) metadata.set(key, value);
  return metadata;
}

/**
 * A call's outgoing metadata and its observation. The caller's W3C trace context goes on with it
 * (replaced by this hop's own span when tracing is on), so a trace crosses pnsmgr either way.
 */
function outgoing(address: string, path: string, type: GrpcType, ctx: CallContext): [Metadata, CallObservation | undefined] {
  const metadata = metadataOf(ctx);
  const traceparent = ctx.metadata.get("traceparent");
  if (traceparent !== undefined && !metadata.get("traceparent").length) {
    metadata.set("traceparent", traceparent);
    const tracestate = ctx.metadata.get("tracestate");
    if (tracestate !== undefined) metadata.set("tracestate", tracestate);
  }
  return [metadata, observer().clientCall(address, path, type, ctx, (key, value) => metadata.set(key, value))];
}

/** Counts a stream's messages and ends its observation with the stream's status. */
function observeStream(call: NodeJS.EventEmitter, observed: CallObservation): void {
  call.on("data", () => observed.received());
  call.on("status", (status: { code: number }) => observed.end(status.code));
}
