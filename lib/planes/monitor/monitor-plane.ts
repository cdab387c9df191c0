/**
 * MonitorConnections through the proxy. A client's selector picks the remote NSMgr (seed form); all
 * clients asking the same remote the same question share one feed: one upstream stream, run by one
 * replica (feed-keeper.ts), whose events are rewritten once for the client side and appended to the
 * event log. Clients are served from the log (feed-streams.ts): a fresh client starts from the feed's
 * current state, a resuming one after the last position it was sent, through any replica. Upstream
 * gone: every client's stream ends with UNAVAILABLE. The distinct feeds one peer address's clients
 * hold are capped (PNSMGR_MAX_FEEDS_PER_PEER, RESOURCE_EXHAUSTED beyond).
 */
import { concatMap, defer, finalize, from, switchMap } from "rxjs";
import { Code, ProxyError } from "../../pipeline/errors.js";
import { createPeerLimit } from "../../pipeline/peer-limit.js";
import { chain, type Handler } from "../../pipeline/element.js";
import { createCallContext } from "../../pipeline/context.js";
import type { PlaneDeps } from "../deps.js";
import { type ConnectionEvent, MonitorScopeSelector, MonitorConnectionService } from "../../../generated/nsm/connection.js";
import { checkBounds } from "../../pipeline/bounds.js";
import { routeSeedSelector } from "./seed-selector.js";
import { seedEventView } from "./seed-event-view.js";
import { type FeedSource, type FeedSpec, createFeedKeeper } from "./feed-keeper.js";
import { RESUME_METADATA, createFeedStreams } from "./feed-streams.js";
import type { FeedSources, MonitorFeeds } from "../monitor-feeds.js";

export interface MonitorPlane {
  monitorConnections: Handler<MonitorScopeSelector, ConnectionEvent>;
  /** Keys of the feeds whose upstream stream runs in this replica (one per remote NSMgr and selector). */
  upstreamKeys(): string[];
  /** Stops the upstreams run here and gives their leases up, for another replica to take over. */
  close(): Promise<void>;
  /** The feed keeper and its sources, for the other generation's leased streams (proxy.ts). */
  readonly feeds: MonitorFeeds;
}

/** `sources`: feed sources of other kinds (filled in by other planes before any feed runs); the seed's is added. */
export function createMonitorPlane(deps: PlaneDeps, sources: FeedSources = {}): MonitorPlane {
  const { upstream, resolver, connections, remoteClusterInfo } = deps;

  const seedSource: FeedSource = spec => {
    const { remote, upstreamSelector } = routeSeedSelector(MonitorScopeSelector.fromJSON(spec.selector));
    return {
      peer: remote.address,
      events: defer(() => from(resolver.resolveHost(remote.host))).pipe(
        switchMap(remoteIP => {
          // The upstream belongs to no single client: its own context, no deadline.
          const ctx = createCallContext({ method: MonitorConnectionService.monitorConnections.path });
          const view = { remoteName: remote.name, written: remote.written, remoteIP };
          return upstream
            .serverStream(remote.address, MonitorConnectionService.monitorConnections, upstreamSelector, ctx)
            .pipe(concatMap(event => seedEventView(event, view, connections, remoteClusterInfo)));
        }),
      ),
    };
  };

  const keeper = createFeedKeeper({
    feeds: deps.feeds,
    replicas: deps.replicas,
    replicaId: deps.replicaId,
    sources: Object.assign(sources, { seed: seedSource }),
    leaseMs: deps.config.monitorLeaseMs,
    lingerMs: deps.config.monitorLingerMs,
    log: deps.log,
  });
  const streams = createFeedStreams(deps.events, deps.feeds, keeper);

  // One client must not make this proxy open hundreds of upstream monitor streams (one per selector).
  const feedsPerPeer = createPeerLimit(deps.config.maxFeedsPerPeer);
  const relay: Handler<MonitorScopeSelector, ConnectionEvent> = (selector, ctx) => {
    const { remote, upstreamSelector } = routeSeedSelector(selector, deps.config.advertisedAddress);
    const key = `seed|${remote.address}|${JSON.stringify(upstreamSelector)}`;
    const spec: FeedSpec = { kind: "seed", selector: MonitorScopeSelector.toJSON(selector) };
    const release = feedsPerPeer.acquire(ctx.peer, key);
    if (release === undefined) {
      throw new ProxyError(Code.RESOURCE_EXHAUSTED, `this peer has ${deps.config.maxFeedsPerPeer} distinct monitor selectors open (PNSMGR_MAX_FEEDS_PER_PEER)`);
    }
    const open = () => streams.stream(key, spec, ctx.metadata.get(RESUME_METADATA));
    // A remote the destination guard refuses gets its refusal, not a feed that fails UNAVAILABLE.
    const check = deps.checkDestination;
    return (check ? defer(() => from(check(remote.address))).pipe(switchMap(open)) : defer(open)).pipe(finalize(release));
  };

  return {
    monitorConnections: chain(checkBounds<MonitorScopeSelector, ConnectionEvent>("monitor selector"))(relay),
    upstreamKeys: () => keeper.running(),
    close: () => keeper.close(),
    feeds: { keeper, sources },
  };
}
