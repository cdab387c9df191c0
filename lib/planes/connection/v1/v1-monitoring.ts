/**
 * How the v1 plane monitors: its MonitorConnections server and its downstream monitors.
 *  - In process (one replica, or no feed keeper given): monitor-server.ts tells its subscribers
 *    directly and records each event after delivery; each established connection has its own
 *    downstream stream in this process (downstream-monitor.ts).
 *  - Replicas sharing the store, with the proxy's feed keeper: the server is served from the event
 *    log (logged-monitor.ts) and downstream monitors are leased feeds run by one replica each and
 *    taken over when it dies (downstream-feed.ts, whose source is registered with the keeper here).
 */
import type { PlaneDeps } from "../../deps.js";
import type { MonitorFeeds } from "../../monitor-feeds.js";
import { type EventRecorder, createEventRecorder } from "../../record-events.js";
import { Connection } from "../../../../generated/nsm/connection.js";
import type { V1ConnectionStore } from "../../../state/v1-connection-store.js";
import { type MonitorServer, type RecordedConnections, createMonitorServer } from "./monitor-server.js";
import { type WatchDownstream, downstreamWatcher } from "./downstream-monitor.js";
import { createLoggedMonitor } from "./logged-monitor.js";
import { lastRelayed, withRelayed } from "./feed-history.js";
import { DOWNSTREAM_FEED_KIND, V1_OWN_FEED, downstreamFeedSource, feedWatcher } from "./downstream-feed.js";

export interface V1MonitoringOptions {
  /** What downstream monitor streams carry (our token in insecure mode). */
  readonly metadata: () => ReadonlyMap<string, string> | Promise<ReadonlyMap<string, string>>;
  /**
   * Replicas sharing v1 connection records: the store, and the recorded connections matching a
   * selector (adopted here: shared-connections.ts).
   */
  readonly shared?: { readonly store: V1ConnectionStore; readonly recorded: RecordedConnections } | undefined;
  /** The proxy's feed keeper: with `shared`, monitoring runs on leased feeds and the log. */
  readonly feeds?: MonitorFeeds | undefined;
}

export interface V1Monitoring {
  readonly monitor: MonitorServer;
  readonly watch: WatchDownstream;
  readonly recorder: EventRecorder;
}

export function createV1Monitoring(deps: PlaneDeps, options: V1MonitoringOptions): V1Monitoring {
  const { upstream, log, config } = deps;
  const { feeds, shared } = options;
  if (!feeds || !shared) {
    const recorder = createEventRecorder(deps.events, log);
    const monitor = createMonitorServer((event, peer, end) => recorder.record(event, peer, end), shared?.recorded);
    const watch = downstreamWatcher(upstream, (event, nextHop, end) => monitor.send(event, nextHop, { end }), options.metadata, config.name);
    return { monitor, watch, recorder };
  }
  const recorder = createEventRecorder(deps.events, log, { feed: V1_OWN_FEED });
  const monitor = createLoggedMonitor(deps.events, recorder, shared.recorded, log);
  const recorded = async (id: string, key: string) => {
    const record = await shared.store.get(id);
    if (!record || record.expires <= Date.now()) return undefined;
    return withRelayed(Connection.fromJSON(record.connection), await lastRelayed(deps.feeds, deps.events, key, id));
  };
  feeds.sources[DOWNSTREAM_FEED_KIND] = downstreamFeedSource({ upstream, metadata: options.metadata, known: monitor.known, recorded });
  return { monitor, watch: feedWatcher(feeds.keeper, log), recorder };
}
