/**
 * The client side of transport/grpc: one grpc-js channel per next hop, reused by every call to it
 * (the seed dialled per call). It dials only Destinations the destination guard returned (lib/guard):
 * the pinned address as it is, with the name the caller gave as the :authority, so no second
 * resolution can move a call elsewhere. Channels are kept in least-recently-used order and the
 * oldest is closed past `maxChannels`. Calls carry the context's deadline and outgoing metadata;
 * unsubscribing cancels them.
 */
import { Client, type ChannelCredentials, type ChannelOptions, Metadata, credentials as grpcCredentials } from "@grpc/grpc-js";
import { Observable } from "rxjs";
import type { CallContext } from "../../pipeline/context.js";
import { type Destination, type MethodDescriptor, type PinnedUpstream, outgoingMetadata } from "../../pipeline/upstream.js";
import { fromUpstreamError } from "./status.js";

export interface ClientPoolOptions {
  credentials?: ChannelCredentials;
  maxChannels?: number;
  maxMessageBytes?: number;
  channelOptions?: ChannelOptions;
}

export interface ClientPool extends PinnedUpstream {
  /** Channels open (dialled address, and the authority when it differs), oldest first. */
  addresses(): string[];
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

  function client({ address, authority }: Destination): Client {
    const key = authority === address ? address : `${address} (${authority})`;
    const existing = clients.get(key);
    if (existing) {
      clients.delete(key);
      clients.set(key, existing);
      return existing;
    }
    const created = new Client(address, creds, authority === address ? channelOptions : { ...channelOptions, "grpc.default_authority": authority });
    clients.set(key, created);
    if (clients.size > maxChannels) {
      const [oldest, evicted] = clients.entries().next().value as [string, Client];
      clients.delete(oldest);
      evicted.close();
    }
    return created;
  }

  return {
    addresses: () => [...clients.keys()],

    unary<Req, Res>(destination: Destination, method: MethodDescriptor<Req, Res>, request: Req, ctx: CallContext): Observable<Res> {
      return new Observable<Res>(subscriber => {
        const call = client(destination).makeUnaryRequest(
          method.path,
          method.requestSerialize,
          method.responseDeserialize,
          request,
          metadataOf(ctx),
          { deadline: ctx.deadline ?? Infinity },
          (error, value) => {
            if (error) subscriber.error(fromUpstreamError(error, destination.authority));
            else {
              subscriber.next(value as Res);
              subscriber.complete();
            }
          },
        );
        return () => call.cancel();
      });
    },

    serverStream<Req, Res>(destination: Destination, method: MethodDescriptor<Req, Res>, request: Req, ctx: CallContext): Observable<Res> {
      return new Observable<Res>(subscriber => {
        const call = client(destination).makeServerStreamRequest(
          method.path,
          method.requestSerialize,
          method.responseDeserialize,
          request,
          metadataOf(ctx),
          { deadline: ctx.deadline ?? Infinity },
        );
        call.on("data", (value: Res) => subscriber.next(value));
        call.on("error", (error: unknown) => subscriber.error(fromUpstreamError(error, destination.authority)));
        call.on("status", (status: { code: number }) => {
          if (status.code === 0) subscriber.complete();
        });
        return () => call.cancel();
      });
    },

    bidiStream<Req, Res>(destination: Destination, method: MethodDescriptor<Req, Res>, requests: Observable<Req>, ctx: CallContext): Observable<Res> {
      return new Observable<Res>(subscriber => {
        const call = client(destination).makeBidiStreamRequest(
          method.path,
          method.requestSerialize,
          method.responseDeserialize,
          metadataOf(ctx),
          { deadline: ctx.deadline ?? Infinity },
        );
        call.on("data", (value: Res) => subscriber.next(value));
        call.on("error", (error: unknown) => subscriber.error(fromUpstreamError(error, destination.authority)));
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
