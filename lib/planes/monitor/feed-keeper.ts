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
 *
 * This file assembles the parts: feed-states.ts (the feed's states and moves, as a table),
 * feed-effects.ts (what each move does), feed-lease.ts, feed-upstream.ts (one run of the upstream,
 * each event encoded once and appended fenced), feed-rounds.ts (the periodic round); the wire form is planes/monitor-log.ts'.
 */
import type { Logger } from "../../log.js";
import type { FeedStore } from "../../state/feed-store.js";
import type { ReplicaRegistry } from "../../state/replica-registry.js";
import { createFeedLeases } from "./feed-lease.js";
import { type FeedTransition, createFeedStates } from "./feed-states.js";
import { feedEffects } from "./feed-effects.js";
import { feedRound, startFeedTicker } from "./feed-rounds.js";
import type { FeedSource, FeedSpec } from "./feed-upstream.js";

export { SNAPSHOT_EVERY_MIN, UPSTREAM_LOST, type FeedSource, type FeedSpec, type FeedUpstream } from "./feed-upstream.js";
export { decodeEvent as decode, encodeEvent as encode } from "../monitor-log.js";

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
  /** Told of every move of a feed here (a row of FEED_TRANSITIONS), as it happens. */
  readonly onTransition?: (key: string, transition: FeedTransition) => void;
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
  const { feeds, replicaId, lingerMs, log } = options;
  const recording = { feeds, replicaId, sources: options.sources, now: options.now ?? Date.now };
  const leases = createFeedLeases(options.replicas, replicaId, options.leaseMs);
  const attached = new Map<string, Attached>();
  let closed = false;

  const unused = async (key: string, idleMs: number) => !attached.has(key) && idleMs >= lingerMs && (await feeds.remove(key, lingerMs));
  const effects = feedEffects({ recording, leases, states: () => states, unused, closed: () => closed, log });
  const states = createFeedStates(effects, (key, transition) => {
    if (transition.from !== transition.to) log.debug("monitor feed", { feed: key, ...transition });
    options.onTransition?.(key, transition);
  });
  /** Runs the feed here if nobody does (a closed keeper takes nothing). */
  const want = async (key: string, spec: string, idleMs: number) => {
    if (!closed) await states.fire(key, "wanted", { spec, idleMs });
  };
  const round = { feeds, leases, states, attached, want, unused, closed: () => closed, log };
  const ticker = startFeedTicker(() => feedRound(round), options.tickMs ?? Math.max(50, Math.floor(options.leaseMs / 3)), log);

  return {
    async attach(key, spec) {
      const specText = JSON.stringify(spec);
      const entry = attached.get(key) ?? { spec: specText, clients: 0 };
      entry.clients++;
      attached.set(key, entry);
      await feeds.register(key, specText);
      await want(key, specText, 0);
    },
    detach(key) {
      const entry = attached.get(key);
      if (!entry || --entry.clients > 0) return;
      attached.delete(key);
      // No linger: the feed ends with its last client (the single-replica default).
      if (lingerMs === 0) void states.fire(key, "last client left");
    },
    running: () => states.keys("running"),
    tick: () => ticker.tick(),
    async close() {
      closed = true;
      await ticker.stop();
      await Promise.all(states.keys("running").map(key => Promise.resolve(states.fire(key, "keeper closed")).catch(() => false)));
    },
  };
}
