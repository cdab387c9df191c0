/**
 * The keeper's periodic round (every third of a lease by default): renews the leases of the feeds
 * this replica runs, marks the feeds its clients are attached to, takes over any feed nobody runs
 * (its holder died or let go) so that events keep being recorded while no client is attached, and
 * lets go of the feeds of ours nobody has touched for lingerMs. Rounds never overlap; a round that
 * cannot reach the store is logged once, until one succeeds again.
 */
import type { Logger } from "../../log.js";
import type { FeedStore } from "../../state/feed-store.js";
import type { FeedLeases } from "./feed-lease.js";
import type { FeedStates } from "./feed-states.js";

export interface FeedRound {
  readonly feeds: FeedStore;
  readonly leases: FeedLeases;
  readonly states: FeedStates;
  /** Spec of each feed a client stream is attached to here. */
  readonly attached: ReadonlyMap<string, { readonly spec: string }>;
  /** Fires "wanted" and waits for what follows (the lease request, the upstream opened). */
  want(key: string, spec: string, idleMs: number): Promise<void>;
  /** Whether a feed of ours is unused: nobody attached here, none touched it for lingerMs (then the store forgot it). */
  unused(key: string, idleMs: number): Promise<boolean>;
  closed(): boolean;
  readonly log: Logger;
}

export async function feedRound(round: FeedRound): Promise<void> {
  const { feeds, leases, states, attached } = round;
  // One renewal for all the running feeds: a round trip per feed made an idle replica busy.
  const running = [...states.keys("running")];
  const lost = new Set(await leases.renewAll(running));
  for (const key of running) {
    if (!lost.has(key)) await states.fire(key, "lease renewed");
    else {
      round.log.info("monitor feed lease lost; another replica runs it now", { feed: key });
      await states.fire(key, "lease lost");
    }
  }
  if (attached.size > 0) await feeds.touch([...attached.keys()]);
  const listed = await feeds.list();
  const known = new Set(listed.map(feed => feed.key));
  // A feed of ours that was ended (idle race, lost upstream) while a client of ours stays attached.
  for (const [key, { spec }] of attached) if (!known.has(key)) await feeds.register(key, spec);
  for (const feed of listed) {
    if (round.closed()) return;
    if (states.stateOf(feed.key) !== "running") await round.want(feed.key, feed.spec, feed.idleMs);
    else if (await round.unused(feed.key, feed.idleMs)) await states.fire(feed.key, "unused");
  }
  for (const [key, { spec }] of attached) if (!known.has(key)) await round.want(key, spec, 0);
}

export interface FeedTicker {
  /** One round now, or the one already under way. */
  tick(): Promise<void>;
  /** No more rounds; waits for the one under way. */
  stop(): Promise<void>;
}

export function startFeedTicker(round: () => Promise<void>, everyMs: number, log: Logger): FeedTicker {
  let ticking: Promise<void> | undefined;
  let stopped = false;
  let storeDown = false;

  async function tick(): Promise<void> {
    if (stopped) return;
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

  const timer = setInterval(() => void tick(), everyMs);
  timer.unref();
  return {
    tick,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await ticking?.catch(() => undefined);
    },
  };
}
