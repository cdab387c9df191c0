/**
 * Runs upstream monitor subscriptions ("feeds") so that they outlive the replica that opened them.
 *
 * A feed is registered in the state store with a spec (what any replica needs to open it again).
 * Exactly one replica holds it, by the lease feedLease(key), and appends each of its events to the
 * event log with a fenced append (refused once the lease has moved on, so a replica that lost its
 * lease during a pause cannot write behind the new holder's back). Client streams never read the
 * upstream: they follow the log (feed-streams.ts), which is what makes a client's stream resumable
 * through any replica.
 *
 * Every tick (a third of the lease) this replica renews its leases, marks the feeds its clients are
 * attached to, and takes over any feed whose lease is free (its holder died or let go): so events
 * keep being recorded while no client is attached. A feed nobody has been attached to for `lingerMs`
 * is ended by its holder. When the upstream breaks or ends, the holder appends an UPSTREAM_LOST
 * entry (clients' streams end with UNAVAILABLE, as an NSM client expects in order to heal) and
 * forgets the feed. When the store refuses an append, the upstream is dropped and opened again at
 * the next tick: its fresh INITIAL_STATE_TRANSFER makes up for the event that could not be logged.
 */
import { type Observable, Subscription, concatMap, defer, materialize } from "rxjs";
import type { Logger } from "../../log.js";
import { type FeedStore, feedLease } from "../../state/feed-store.js";
import type { ReplicaRegistry } from "../../state/replica-registry.js";
import { type ConnectionEvent, type Connection, ConnectionEvent as ConnectionEventCodec, ConnectionEventType } from "../../../generated/nsm/connection.js";
import { eventInput } from "../record-events.js";
import { EndReason, connectionEnd, seedEventEnd } from "../end-reasons.js";
import { foldEvent, initialStateEvent } from "./connection-state.js";

/** Fewest entries between two snapshots of a feed (a fresh client replays at most about this many). */
export const SNAPSHOT_EVERY_MIN = 64;

/** The log entry type that ends a feed's client streams. */
export const UPSTREAM_LOST = "UPSTREAM_LOST";

export interface FeedUpstream {
  /** The remote the events come from (the log's `peer`). */
  readonly peer: string;
  /** The upstream's events, already as the feed's clients see them. */
  readonly events: Observable<ConnectionEvent>;
}

/** Opens feeds of one kind from their spec. */
export type FeedSource = (spec: FeedSpec) => FeedUpstream;

export interface FeedSpec {
  /** Which FeedSource opens it. */
  readonly kind: string;
  readonly [field: string]: unknown;
}

export interface FeedKeeperOptions {
  readonly feeds: FeedStore;
  readonly replicas: ReplicaRegistry;
  readonly replicaId: string;
  readonly sources: Readonly<Record<string, FeedSource>>;
  /** How long a lease lasts without renewal: a dead holder's feeds are taken over after this. */
  readonly leaseMs: number;
  /** How long a feed with no client attached anywhere keeps running (0: ended with its last client). */
  readonly lingerMs: number;
  readonly log: Logger;
  /** Between two ticks (default leaseMs / 3). */
  readonly tickMs?: number;
  readonly now?: () => number;
}

export interface FeedKeeper {
  /** A client stream of the feed is attached here: registers the feed and runs it here if nobody does. */
  attach(key: string, spec: FeedSpec): Promise<void>;
  detach(key: string): void;
  /** Keys of the feeds whose upstream runs in this replica. */
  running(): string[];
  /** One round of renewals, marks and take-overs (the timer calls it; tests may too). */
  tick(): Promise<void>;
  /** Stops every upstream here and gives up their leases, so that another replica takes over at once. */
  close(): Promise<void>;
}

interface Attached {
  readonly spec: string;
  clients: number;
}

export function createFeedKeeper(options: FeedKeeperOptions): FeedKeeper {
  const { feeds, replicas, replicaId, leaseMs, lingerMs, log } = options;
  const now = options.now ?? Date.now;
  const running = new Map<string, Subscription>();
  const attached = new Map<string, Attached>();
  let closed = false;
  let ticking: Promise<void> | undefined;
  let storeDown = false;

  const lease = feedLease;

  function start(key: string, specText: string): void {
    if (closed || running.has(key)) return;
    let spec: FeedSpec;
    let upstream: FeedUpstream;
    try {
      spec = JSON.parse(specText) as FeedSpec;
      const source = options.sources[spec.kind];
      if (!source) throw new Error(`no source for feed kind ${JSON.stringify(spec.kind)}`);
      upstream = source(spec);
    } catch (error: unknown) {
      // A spec this replica cannot open: end the feed for its clients rather than retry forever.
      void endFeed(key, "", `monitor feed ${key} cannot be opened: ${(error as Error).message}`);
      return;
    }
    const state = new Map<string, Connection>();
    let first = true;
    let sinceSnapshot = 0;
    const append = async (event: ConnectionEvent) => {
      foldEvent(state, event);
      const input = { ...eventInput(event, upstream.peer, now(), seedEventEnd(event, upstream.peer)), wire: encode(event) };
      // A snapshot costs O(connections): written with the feed's first event (a fresh client needs
      // one), then once the entries since the last one reach a fraction of the state's size.
      const due = sinceSnapshot === 0 || ++sinceSnapshot > Math.max(SNAPSHOT_EVERY_MIN, state.size / 8);
      const position = await feeds.append(key, replicaId, input, due ? encode(initialStateEvent(state)) : undefined);
      if (position === undefined) throw new LeaseLost();
      if (due) sinceSnapshot = 1;
    };
    // Registered before subscribing: the upstream may fail at once, and its end must find the entry.
    const holder = new Subscription();
    running.set(key, holder);
    const forget = () => {
      if (running.get(key) === holder) running.delete(key);
    };
    const subscription = upstream.events
      .pipe(
        materialize(),
        concatMap(note =>
          defer(async () => {
            if (note.kind === "N") {
              // A peer that skips its initial state: the log still starts the feed with one.
              if (first && note.value.type !== ConnectionEventType.INITIAL_STATE_TRANSFER) await append(initialStateEvent(new Map()));
              first = false;
              await append(note.value);
              return;
            }
            const reason =
              note.kind === "E"
                ? `monitor stream ${upstream.peer} broke: ${(note.error as Error)?.message ?? String(note.error)}`
                : `monitor stream ${upstream.peer} ended`;
            forget();
            await endFeed(key, upstream.peer, reason);
          }),
        ),
      )
      .subscribe({
        complete: forget,
        error: (error: unknown) => {
          forget();
          if (error instanceof LeaseLost) {
            log.info("monitor feed taken over by another replica", { feed: key });
            return;
          }
          // The store refused the event: drop the upstream; the next tick opens it again.
          log.warn("monitor feed: event not recorded; the upstream will be opened again", { feed: key, error: (error as Error).message });
        },
      });
    holder.add(subscription);
  }

  function stop(key: string): void {
    running.get(key)?.unsubscribe();
    running.delete(key);
  }

  /** Appends the UPSTREAM_LOST entry, forgets the feed and gives its lease up. */
  async function endFeed(key: string, peer: string, reason: string): Promise<void> {
    stop(key);
    try {
      const lost = { connectionIds: [], peer, type: UPSTREAM_LOST, payload: { feed: key, reason }, at: now(), end: connectionEnd(EndReason.upstreamLost, peer, reason) };
      await feeds.append(key, replicaId, lost, encode(initialStateEvent(new Map())));
      await feeds.remove(key);
      await replicas.release(lease(key), replicaId);
    } catch (error: unknown) {
      log.warn("monitor feed: could not record the end of its upstream", { feed: key, reason, error: (error as Error).message });
    }
  }

  /** Ends a feed of ours that no client has touched for lingerMs (checked by the store); true when ended. */
  async function endIfIdle(key: string, idleMs: number): Promise<boolean> {
    if (attached.has(key) || idleMs < lingerMs || !(await feeds.remove(key, lingerMs))) return false;
    stop(key);
    await replicas.release(lease(key), replicaId);
    return true;
  }

  async function takeIfFree(key: string, spec: string, idleMs: number): Promise<void> {
    if (running.has(key) || !(await replicas.tryAcquire(lease(key), replicaId, leaseMs))) return;
    if (!(await endIfIdle(key, idleMs))) start(key, spec);
  }

  async function round(): Promise<void> {
    for (const key of [...running.keys()]) {
      if (!(await replicas.renew(lease(key), replicaId, leaseMs))) {
        log.info("monitor feed lease lost; another replica runs it now", { feed: key });
        stop(key);
      }
    }
    if (attached.size > 0) await feeds.touch([...attached.keys()]);
    const listed = await feeds.list();
    const known = new Set(listed.map(feed => feed.key));
    // A feed of ours that was ended (idle race, lost upstream) while a client of ours stays attached.
    for (const [key, { spec }] of attached) if (!known.has(key)) await feeds.register(key, spec);
    for (const feed of listed) {
      if (closed) return;
      if (running.has(feed.key)) await endIfIdle(feed.key, feed.idleMs);
      else await takeIfFree(feed.key, feed.spec, feed.idleMs);
    }
    for (const [key, { spec }] of attached) if (!known.has(key)) await takeIfFree(key, spec, 0);
  }

  async function tick(): Promise<void> {
    if (closed) return;
    if (ticking) return ticking;
    ticking = round().then(
      () => {
        if (storeDown) log.info("monitor feeds: state store reachable again");
        storeDown = false;
      },
      (error: unknown) => {
        if (!storeDown) log.warn("monitor feeds: state store not reachable; feeds are kept when it returns", { error: (error as Error).message });
        storeDown = true;
      },
    );
    try {
      await ticking;
    } finally {
      ticking = undefined;
    }
  }

  const timer = setInterval(() => void tick(), options.tickMs ?? Math.max(50, Math.floor(leaseMs / 3)));
  timer.unref();

  return {
    async attach(key, spec) {
      const specText = JSON.stringify(spec);
      const entry = attached.get(key) ?? { spec: specText, clients: 0 };
      entry.clients++;
      attached.set(key, entry);
      await feeds.register(key, specText);
      await takeIfFree(key, specText, 0);
    },
    detach(key) {
      const entry = attached.get(key);
      if (!entry || --entry.clients > 0) return;
      attached.delete(key);
      if (lingerMs > 0 || !running.has(key)) return;
      // No linger: the feed ends with its last client (the single-replica default).
      stop(key);
      endIfIdle(key, 0).catch((error: unknown) => log.warn("monitor feed: could not end it", { feed: key, error: (error as Error).message }));
    },
    running: () => [...running.keys()],
    tick,
    async close() {
      closed = true;
      clearInterval(timer);
      await ticking?.catch(() => undefined);
      const held = [...running.keys()];
      for (const key of held) stop(key);
      await Promise.all(held.map(key => replicas.release(lease(key), replicaId).catch(() => false)));
    },
  };
}

class LeaseLost extends Error {
  constructor() {
    super("feed lease lost");
  }
}

/** A ConnectionEvent as the log keeps it for delivery: protobuf bytes, base64. */
export function encode(event: ConnectionEvent): string {
  return Buffer.from(ConnectionEventCodec.encode(event).finish()).toString("base64");
}

export function decode(wire: string): ConnectionEvent {
  return decodeBytes(Buffer.from(wire, "base64"));
}

export function decodeBytes(bytes: Uint8Array): ConnectionEvent {
  return ConnectionEventCodec.decode(bytes);
}
