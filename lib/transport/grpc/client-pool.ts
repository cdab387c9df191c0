/**
 * The Upstream of transport/grpc: one grpc-js channel per next-hop address, reused by every call to
 * that address (the seed dialled per call). Channels are kept in least-recently-used order and the
 * oldest is closed past `maxChannels`. Calls carry the context's deadline and outgoing metadata;
 * unsubscribing cancels them.
 */
import { Client, type ChannelCredentials, type ChannelOptions, Metadata, credentials as grpcCredentials } from "@grpc/grpc-js";
import { Observable } from "rxjs";
import type { CallContext } from "../../pipeline/context.js";
import { type MethodDescriptor, type Upstream, outgoingMetadata } from "../../pipeline/upstream.js";
import { fromUpstreamError } from "./status.js";

export interface ClientPoolOptions {
  credentials?: ChannelCredentials;
  /** Credentials made for each address dialled (mTLS: each remembers the peer verified there); wins over `credentials`. */
  credentialsFor?: (address: string) => ChannelCredentials;
  maxChannels?: number;
  maxMessageBytes?: number;
  channelOptions?: ChannelOptions;
}

export interface ClientPool extends Upstream {
  /** Addresses with an open channel, oldest first. */
  addresses(): string[];
  /**
   * New calls get new channels (new handshakes: a rotated SVID); calls already running on the old
   * channels go on until they end.
   */
  renew(): void;
}

/** Reconnect quickly: a peer that restarts should be reachable again in well under a second. */
const RECONNECT_OPTIONS: ChannelOptions = {
  "grpc.initial_reconnect_backoff_ms": 100,
  "grpc.max_reconnect_backoff_ms": 1000,
};

export function createClientPool(options: ClientPoolOptions = {}): ClientPool {
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

  function client(address: string): Client {
    const existing = clients.get(address);
    if (existing) {
      clients.delete(address);
      clients.set(address, existing);
      return existing;
    }
    const created = new Client(address, options.credentialsFor?.(address) ?? creds, channelOptions);
    clients.set(address, created);
    if (clients.size > maxChannels) {
      const [oldest, evicted] = clients.entries().next().value as [string, Client];
      clients.delete(oldest);
      evicted.close();
    }
    return created;
  }

  return {
    addresses: () => [...clients.keys()],

    renew() {
      // grpc-js lets calls started on a closed channel finish; only new calls need a new one.
      for (const c of clients.values()) c.close();
      clients.clear();
    },

    unary<Req, Res>(address: string, method: MethodDescriptor<Req, Res>, request: Req, ctx: CallContext): Observable<Res> {
      return new Observable<Res>(subscriber => {
        const call = client(address).makeUnaryRequest(
          method.path,
          method.requestSerialize,
          method.responseDeserialize,
          request,
          metadataOf(ctx),
          { deadline: ctx.deadline ?? Infinity },
          (error, value) => {
            if (error) subscriber.error(fromUpstreamError(error, address));
            else {
              subscriber.next(value as Res);
              subscriber.complete();
            }
          },
        );
        return () => call.cancel();
      });
    },

    serverStream<Req, Res>(address: string, method: MethodDescriptor<Req, Res>, request: Req, ctx: CallContext): Observable<Res> {
      return new Observable<Res>(subscriber => {
        const call = client(address).makeServerStreamRequest(
          method.path,
          method.requestSerialize,
          method.responseDeserialize,
          request,
          metadataOf(ctx),
          { deadline: ctx.deadline ?? Infinity },
        );
        call.on("data", (value: Res) => subscriber.next(value));
        call.on("error", (error: unknown) => subscriber.error(fromUpstreamError(error, address)));
        call.on("status", (status: { code: number }) => {
          if (status.code === 0) subscriber.complete();
        });
        return () => call.cancel();
      });
    },

    bidiStream<Req, Res>(address: string, method: MethodDescriptor<Req, Res>, requests: Observable<Req>, ctx: CallContext): Observable<Res> {
      return new Observable<Res>(subscriber => {
        const call = client(address).makeBidiStreamRequest(
          method.path,
          method.requestSerialize,
          method.responseDeserialize,
          metadataOf(ctx),
          { deadline: ctx.deadline ?? Infinity },
        );
        call.on("data", (value: Res) => subscriber.next(value));
        call.on("error", (error: unknown) => subscriber.error(fromUpstreamError(error, address)));
        call.on("status", (status: { code: number }) => {
          if (status.code === 0) subscriber.complete();
        });
        const sending = requests.subscribe({
          next: message => call.write(message),
          error: () => call.cancel(),
          complete: () => call.end(),
        });
        return () => {
          sending.unsubscribe();
          call.cancel();
        };
      });
    },

    close() {
      for (const c of clients.values()) c.close();
      clients.clear();
    },
  };
}

function metadataOf(ctx: CallContext): Metadata {
  const metadata = new Metadata();
  for (const [key, value] of ctx.get(outgoingMetadata) ?? []) metadata.set(key, value);
  return metadata;
}
