/**
 * The client side of `npm run bench:scale`: N connections, each Requested through pnsmgr and each with
 * its own MonitorConnections subscription, and each healing itself as NSM's heal does when its
 * subscription reports the remote peer's loss:
 *
 *   seed  the subscription ends (pnsmgr ends a feed's client streams with UNAVAILABLE when the remote
 *         NSMgr's stream breaks): re-Request, then subscribe again; healed once the new subscription's
 *         initial state holds the connection.
 *   v1    the subscription reports the connection DOWN (pnsmgr's DOWN when its downstream monitor
 *         breaks): re-Request (a refresh of the same connection); healed once the refresh is answered
 *         and the same subscription has reported the connection UP again.
 *
 * A failed re-Request is tried again after a jittered backoff (250 ms doubling to 2 s): NSM retries
 * every 200 ms, which 10,000 connections turn into a herd of 50,000 Requests a second at a peer that
 * is down. Every connection keeps the times it saw the loss and was healed; nothing is asserted here.
 */
import { Client, Metadata, type ClientReadableStream, type ServiceError, credentials } from "@grpc/grpc-js";
import { type Connection, type ConnectionEvent, ConnectionEventType, MonitorConnectionService, type MonitorScopeSelector, State } from "../../generated/nsm/connection.js";
import { NetworkServiceService, type NetworkServiceRequest } from "../../generated/nsm/networkservice.js";

/** What differs between seed and v1 clients. */
export interface Flavor {
  readonly kind: "seed" | "v1";
  /** The first Request of connection i. */
  request(i: number): NetworkServiceRequest;
  /** The Request that heals connection i, from its last answer. */
  refresh(i: number, last: Connection): NetworkServiceRequest;
  selector(i: number): MonitorScopeSelector;
  /** Whether a connection in an event is connection i (last answered as `last`). */
  mine(i: number, last: Connection, conn: Connection): boolean;
  /** Metadata every call carries (v1: the caller's token). */
  metadata(): Metadata;
}

interface Conn {
  readonly i: number;
  last?: Connection;
  stream?: ClientReadableStream<ConnectionEvent>;
  /** When it saw the peer's loss; undefined while it has not. */
  lostAt?: number;
  healedAt?: number;
  /** When the heal's re-Request was answered. */
  answeredAt?: number;
  healing: boolean;
  /** v1: the heal's successful refresh was answered / the subscription reported UP after it was sent. */
  answered: boolean;
  upAfter?: number;
  sentAt?: number;
}

const REQUEST_DEADLINE_MS = 15_000;
const STREAMS_PER_CHANNEL = 500;

export interface Population {
  /** Requests and subscribes the next `count` connections, `inFlight` at a time; one line per failure. */
  open(n: number, inFlight: number): Promise<string[]>;
  /** Connections that have seen the loss, and that are healed. */
  counts(): { lost: number; healed: number; total: number };
  /** Heal times (ms) counted from `since`, of the healed connections. */
  healTimes(since: number): number[];
  /** Connections not healed, each with what it saw (for the report). */
  unhealed(): string[];
  /** Failed heal attempts (re-Requests and subscriptions) by status and message. */
  healFailures(): ReadonlyMap<string, number>;
  /** Times (ms from `since`) the heals' re-Requests were answered. */
  answerTimes(since: number): number[];
  close(): void;
}

/** `n`: how many connections there will be (it sizes the channels). */
export function createPopulation(address: string, n: number, flavor: Flavor): Population {
  const unary = NetworkServiceService.request;
  const monitor = MonitorConnectionService.monitorConnections;
  // Several HTTP/2 connections, as from several client NSMgrs / forwarders; each its own subchannel.
  const clients = Array.from(
    { length: Math.max(1, Math.ceil(n / STREAMS_PER_CHANNEL)) },
    (_, k) => new Client(address, credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1, "grpc.enable_channelz": 0, "bench.channel": k }),
  );
  const conns: Conn[] = [];
  const clientOf = (c: Conn) => clients[c.i % clients.length]!;

  const request = (c: Conn, req: NetworkServiceRequest) =>
    new Promise<Connection>((resolve, reject) =>
      clientOf(c).makeUnaryRequest(unary.path, unary.requestSerialize, unary.responseDeserialize, req, flavor.metadata(), { deadline: Date.now() + REQUEST_DEADLINE_MS }, (error: ServiceError | null, answer?: Connection) =>
        error || !answer ? reject(error ?? new Error("no answer")) : resolve(answer),
      ),
    );

  /** Subscribes; resolves once an event on it holds the connection, rejects if the stream ends first. */
  const subscribe = (c: Conn) =>
    new Promise<void>((resolve, reject) => {
      const stream = clientOf(c).makeServerStreamRequest(monitor.path, monitor.requestSerialize, monitor.responseDeserialize, flavor.selector(c.i), flavor.metadata(), { deadline: Infinity });
      c.stream = stream;
      let attached = false;
      stream.on("data", (event: ConnectionEvent) => {
        const last = c.last!;
        const ours = Object.values(event.connections).filter(conn => flavor.mine(c.i, last, conn));
        if (!attached) {
          // Attached once an event shows the connection: the initial state, or (when pnsmgr's initial
          // state came before its new upstream's) a later event.
          if (ours.length === 0) return;
          attached = true;
          return resolve();
        }
        if (flavor.kind === "v1" && event.type === ConnectionEventType.UPDATE) {
          for (const conn of ours) {
            if (conn.state === State.DOWN) lost(c);
            else if (c.sentAt !== undefined) {
              c.upAfter ??= Date.now();
              healedIfDone(c);
            }
          }
        }
      });
      stream.on("error", () => undefined);
      stream.on("status", status => {
        if (c.stream !== stream) return;
        c.stream = undefined;
        if (!attached) reject(new Error(`connection ${c.i}: subscription ended before its initial state (${status.code} ${status.details})`));
        else lost(c);
      });
    });

  const healedIfDone = (c: Conn) => {
    if (c.healedAt !== undefined || !c.answered || c.upAfter === undefined || c.stream === undefined) return;
    c.healedAt = Date.now();
    c.healing = false;
  };

  function lost(c: Conn): void {
    c.lostAt ??= Date.now();
    if (c.healing || c.healedAt !== undefined) return;
    c.healing = true;
    void heal(c);
  }

  async function heal(c: Conn): Promise<void> {
    for (let attempt = 0; c.healedAt === undefined; attempt++) {
      try {
        c.sentAt = Date.now();
        c.upAfter = undefined;
        c.answered = false;
        c.last = await request(c, flavor.refresh(c.i, c.last!));
        c.answeredAt = Date.now();
        if (c.stream === undefined) {
          // seed always (pnsmgr ended it), v1 only if the stream itself was lost: its initial state shows the connection.
          await subscribe(c);
          c.upAfter ??= Date.now();
        }
        c.answered = true;
        // v1: if the UP is still on its way, healedIfDone runs again when it comes.
        healedIfDone(c);
        return;
      } catch (error: unknown) {
        if (closed) return;
        const e = error as Partial<ServiceError>;
        const what = `${e.code ?? ""} ${(e.details ?? e.message ?? String(error)).replace(/\d+/g, "N").slice(0, 240)}`;
        failures.set(what, (failures.get(what) ?? 0) + 1);
        const delay = Math.min(2000, 250 * 2 ** attempt) * (0.8 + 0.4 * Math.random());
        await new Promise(resolve => setTimeout(resolve, delay));
      }
    }
  }

  let closed = false;
  /** Failed heal attempts by status and message (numbers masked), for the report. */
  const failures = new Map<string, number>();
  return {
    healFailures: () => failures,
    async open(count, inFlight) {
      const failures: string[] = [];
      let next = conns.length;
      const end = next + count;
      const worker = async () => {
        while (next < end) {
          const c: Conn = { i: next++, healing: false, answered: false };
          conns.push(c);
          try {
            c.last = await request(c, flavor.request(c.i));
            await subscribe(c);
          } catch (error: unknown) {
            failures.push(`connection ${c.i}: ${(error as Error).message}`);
          }
        }
      };
      await Promise.all(Array.from({ length: inFlight }, worker));
      return failures;
    },
    unhealed: () => conns.filter(c => c.healedAt === undefined).map(c => `${c.i}${c.lostAt === undefined ? " (no loss seen)" : ""}${c.answeredAt === undefined ? "" : " (answered)"}${c.stream === undefined ? " (no stream)" : ""}`),
    counts: () => ({ lost: conns.filter(c => c.lostAt !== undefined).length, healed: conns.filter(c => c.healedAt !== undefined).length, total: conns.length }),
    healTimes: since => conns.flatMap(c => (c.healedAt === undefined ? [] : [c.healedAt - since])),
    answerTimes: since => conns.flatMap(c => (c.answeredAt === undefined ? [] : [c.answeredAt - since])),
    close() {
      closed = true;
      for (const c of conns) c.stream?.cancel();
      for (const client of clients) client.close();
    },
  };
}
