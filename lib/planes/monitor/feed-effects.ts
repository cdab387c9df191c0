/**
 * What the keeper does on each move of a feed (the `does` column of FEED_TRANSITIONS): ask for the
 * lease, open or drop the upstream, record the feed's end, give the lease up. An effect that waits
 * for the store reports the answer as the feed's next event, so the table decides what follows.
 */
import type { Logger } from "../../log.js";
import { Subscription } from "rxjs";
import type { FeedLeases } from "./feed-lease.js";
import type { FeedEffects, FeedEvent, FeedRecord, FeedStates } from "./feed-states.js";
import { type FeedRecording, type UpstreamOutcomes, appendUpstreamLost, runFeedUpstream } from "./feed-upstream.js";

export interface FeedEffectsContext {
  readonly recording: FeedRecording;
  readonly leases: FeedLeases;
  /** The states the effects report to (a getter: the states are built from these effects). */
  readonly states: () => FeedStates;
  /** Whether a feed of ours is unused (nobody touched it for lingerMs); the store forgets it if so. */
  readonly unused: (key: string, idleMs: number) => Promise<boolean>;
  readonly closed: () => boolean;
  readonly log: Logger;
}

export function feedEffects(context: FeedEffectsContext): FeedEffects {
  const { recording, leases, log } = context;
  const fire = (key: string, on: FeedEvent) => context.states().fire(key, on);
  const drop = (record: FeedRecord) => {
    record.upstream?.unsubscribe();
    record.upstream = undefined;
  };
  /** Runs the store writes that end a feed here, then moves it on with "ended" whatever came of them. */
  const ending = async (key: string, writes: () => Promise<void>, failure: string, fields: Record<string, unknown> = {}) => {
    try {
      await writes();
    } catch (error: unknown) {
      log.warn(failure, { feed: key, ...fields, error: (error as Error).message });
    }
    fire(key, "ended");
  };

  return {
    none: () => undefined,
    acquire(record, detail) {
      record.spec = detail.spec ?? record.spec;
      record.idleMs = detail.idleMs ?? 0;
      record.acquisition = acquire(context, record);
      return record.acquisition;
    },
    "join acquisition": record => record.acquisition,
    "open upstream"(record) {
      // Held in the record before subscribing: the upstream may end at once, and its end must find it.
      const holder = new Subscription();
      record.upstream = holder;
      holder.add(runFeedUpstream(recording, record.key, record.spec, outcomesOf(context, record)));
    },
    "release lease": record => leases.release(record.key),
    "drop upstream": drop,
    "let go"(record) {
      drop(record);
      return leases.release(record.key);
    },
    "record upstream lost"(record, { peer = "", reason = "" }) {
      drop(record);
      const { key } = record;
      return ending(
        key,
        async () => {
          await appendUpstreamLost(recording, key, peer, reason);
          await recording.feeds.remove(key);
          await leases.release(key);
        },
        "monitor feed: could not record the end of its upstream",
        { reason },
      );
    },
    "end unused"(record) {
      drop(record);
      const { key } = record;
      return ending(
        key,
        async () => {
          if (await recording.feeds.remove(key, 0)) await leases.release(key);
        },
        "monitor feed: could not end it",
      );
    },
  };
}

/** Asks for the lease, then moves the feed on with the answer (an unused feed is let go of, not opened). */
async function acquire(context: FeedEffectsContext, record: FeedRecord): Promise<void> {
  const { key } = record;
  const states = context.states();
  let next: FeedEvent;
  try {
    if (!(await context.leases.acquire(key))) next = "lease refused";
    else if (await context.unused(key, record.idleMs)) next = "lease taken, unused";
    else next = context.closed() ? "lease taken, closing" : "lease taken";
  } catch (error: unknown) {
    states.fire(key, "lease request failed");
    throw error;
  }
  await states.fire(key, next);
}

/** How one run's end moves the feed on; ignored once the record is no longer the feed's current one. */
function outcomesOf(context: FeedEffectsContext, record: FeedRecord): UpstreamOutcomes {
  const { key } = record;
  const { log } = context;
  const current = () => context.states().isCurrent(record);
  return {
    fencedOut() {
      if (!current()) return;
      log.info("monitor feed taken over by another replica", { feed: key });
      context.states().fire(key, "fenced out");
    },
    appendFailed(error) {
      if (!current()) return;
      // The store refused the event: drop the upstream; the next round opens it again.
      log.warn("monitor feed: event not recorded; the upstream will be opened again", { feed: key, error: (error as Error).message });
      context.states().fire(key, "append failed");
    },
    lost(peer, reason) {
      if (current()) void context.states().fire(key, "upstream lost", { peer, reason });
    },
  };
}
