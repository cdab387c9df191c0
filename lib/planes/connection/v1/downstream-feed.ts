/**
 * Downstream monitors as leased feeds (replicas sharing a state store): one monitor stream per next
 * hop and selector (our own segment {name, id}), run by one replica under the feed keeper's lease
 * and taken over by another when it dies, each relayed event appended to the event log (fenced) with
 * its position. Whichever replica runs it relays as downstream-monitor.ts does: each event about our
 * connection becomes an UPDATE in our frame, a downstream DELETE becomes DOWN, events that change
 * nothing are dropped. Our connection as last reported comes from the v1 monitor's folded log (any
 * replica's Request or relay), else from the connection record with what the feed last relayed
 * (feed-history.ts); no record: the connection is gone and the feed ends.
 *
 * The first event of every stream, its initial state, is compared in full (not only its state, as
 * a stream of our own does): after a takeover it brings whatever changed while nobody ran the feed.
 * A stream that fails or ends gives one DOWN (none when our connection is already DOWN) and is
 * opened again with backoff by the same holder: its initial state reports whatever changed
 * meanwhile. A downstream DELETE waits a moment before it is relayed: a Close through us makes the
 * next hop report its DELETE before it answers, and our own DELETE, logged right after, makes it moot.
 * The replicas carrying the connection attach to its feed (`feedWatcher`) while they know it.
 */
import { Observable, type Subscription, concatMap, defer, filter, map, of, switchMap, timer } from "rxjs";
import type { Upstream } from "../../../pipeline/upstream.js";
import type { Logger } from "../../../log.js";
import { type Connection, type ConnectionEvent, ConnectionEventType, State } from "../../../../generated/nsm/connection.js";
import type { FeedAttachments, FeedSpecOf, FeedUpstreamOf } from "../../monitor-feeds.js";
import { type WatchDownstream, openDownstreamMonitor, relayEvent } from "./downstream-monitor.js";
import { currentSegment } from "./path.js";

export const DOWNSTREAM_FEED_KIND = "v1-downstream";
/** Every v1 monitor entry in the log belongs to a feed named so: "v1" (our own events) or "v1|…" (downstream feeds). */
export const V1_OWN_FEED = "v1";
const DOWNSTREAM_PREFIX = `${V1_OWN_FEED}|`;

export const isV1Feed = (feed: string | undefined): boolean => feed === V1_OWN_FEED || (feed?.startsWith(DOWNSTREAM_PREFIX) ?? false);

/** How long a downstream DELETE waits for our own DELETE before it is relayed as DOWN. */
export const DELETE_GRACE_MS = 300;
const RETRY_FIRST_MS = 200;
const RETRY_MAX_MS = 10_000;

interface DownstreamSpec extends FeedSpecOf {
  readonly nextHop: string;
  readonly name: string;
  readonly id: string;
}

const feedKey = (spec: DownstreamSpec) => `${DOWNSTREAM_PREFIX}${spec.nextHop}|${spec.name}|${spec.id}`;

/** The feed of our connection's downstream monitor at `nextHop`: its key and spec. */
export function downstreamFeed(nextHop: string, conn: Connection): { key: string; spec: DownstreamSpec } {
  const own = currentSegment(conn);
  const spec: DownstreamSpec = { kind: DOWNSTREAM_FEED_KIND, nextHop, name: own?.name ?? "", id: own?.id ?? conn.id };
  return { key: feedKey(spec), spec };
}

export interface DownstreamFeedDeps {
  readonly upstream: Upstream;
  /** What the stream carries (our token in insecure mode). */
  readonly metadata: () => ReadonlyMap<string, string> | Promise<ReadonlyMap<string, string>>;
  /** Our connection as the v1 monitor's log last showed it. */
  readonly known: (id: string) => Connection | undefined;
  /** Our connection as its record holds it, with what feed `key` last relayed (undefined: no live record). */
  readonly recorded: (id: string, key: string) => Promise<Connection | undefined>;
  readonly deleteGraceMs?: number;
}

type Raw = { readonly event: ConnectionEvent } | { readonly lost: true };

/** The feed source of kind DOWNSTREAM_FEED_KIND. */
export function downstreamFeedSource(deps: DownstreamFeedDeps): (spec: FeedSpecOf) => FeedUpstreamOf {
  return feedSpec => {
    const spec = feedSpec as DownstreamSpec;
    const open = () => openDownstreamMonitor(deps.upstream, spec.nextHop, spec.name, spec.id, deps.metadata);
    const key = feedKey(spec);
    const events = defer(async () => deps.known(spec.id) ?? (await deps.recorded(spec.id, key))).pipe(
      switchMap(first => (first ? relayed(first, reopening(open), spec.id, deps) : of<ConnectionEvent>())),
    );
    return { peer: spec.nextHop, events };
  };
}

/** The downstream events, with a `lost` mark each time the stream fails or ends; reopened with backoff. */
function reopening(open: () => Observable<ConnectionEvent>): Observable<Raw> {
  return new Observable<Raw>(subscriber => {
    let inner: Subscription | undefined;
    let wait: NodeJS.Timeout | undefined;
    let backoff = RETRY_FIRST_MS;
    const lost = () => {
      subscriber.next({ lost: true });
      wait = setTimeout(run, backoff);
      backoff = Math.min(backoff * 2, RETRY_MAX_MS);
    };
    const run = () => {
      inner = open().subscribe({
        next: event => {
          backoff = RETRY_FIRST_MS;
          subscriber.next({ event });
        },
        error: lost,
        complete: lost,
      });
    };
    run();
    return () => {
      clearTimeout(wait);
      inner?.unsubscribe();
    };
  });
}

/** The raw downstream events relayed in our frame, compared with our connection as last reported. */
function relayed(first: Connection, raw: Observable<Raw>, id: string, deps: DownstreamFeedDeps): Observable<ConnectionEvent> {
  let latest = first;
  let seen = deps.known(id);
  /** Our connection now: a newer one from the log (a refresh anywhere, our own relay) replaces ours. */
  const ours = () => {
    const known = deps.known(id);
    if (known && known !== seen) latest = seen = known;
    return latest;
  };
  const relay = (item: Raw): ConnectionEvent | undefined => {
    const current = ours();
    if ("lost" in item) {
      if (current.state === State.DOWN) return undefined;
      latest = { ...current, state: State.DOWN };
      return { type: ConnectionEventType.UPDATE, connections: { [current.id]: latest } };
    }
    // Unlike a stream of its own, a feed compares an initial state in full: when it was taken over,
    // whatever changed while nobody ran it shows there.
    const event = item.event.type === ConnectionEventType.INITIAL_STATE_TRANSFER ? { ...item.event, type: ConnectionEventType.UPDATE } : item.event;
    const out = relayEvent(event, current);
    if (out) latest = out.latest;
    return out?.event;
  };
  const grace = deps.deleteGraceMs ?? DELETE_GRACE_MS;
  return raw.pipe(
    concatMap(item => {
      if ("lost" in item || item.event.type !== ConnectionEventType.DELETE) return of(item);
      // Closed through us meanwhile: our DELETE is logged, and the monitor has forgotten the connection.
      const knewIt = deps.known(id) !== undefined;
      return timer(grace).pipe(
        filter(() => !knewIt || deps.known(id) !== undefined),
        map(() => item),
      );
    }),
    map(relay),
    filter((event): event is ConnectionEvent => event !== undefined),
  );
}

/** Downstream monitors as attachments to their feeds: while attached, some replica runs the stream. */
export function feedWatcher(feeds: FeedAttachments, log: Logger): WatchDownstream {
  return (nextHop, conn) => {
    const { key, spec } = downstreamFeed(nextHop, conn);
    let attached = true;
    feeds.attach(key, spec).catch((error: unknown) => log.warn("v1: downstream monitor feed not attached yet; retried at the next round", { feed: key, error: String(error) }));
    return {
      nextHop,
      alive: () => attached,
      update: () => undefined,
      stop() {
        if (!attached) return;
        attached = false;
        feeds.detach(key);
      },
    };
  };
}
