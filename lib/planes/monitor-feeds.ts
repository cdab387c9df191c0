/**
 * The monitor feeds of one proxy as the planes see them: one feed keeper
 * (planes/monitor/feed-keeper.ts, created by the monitor plane) runs every leased upstream monitor
 * stream of both generations, opening each from its spec with the source registered for its kind.
 * The monitor plane registers the seed's kind and proxy.ts hands the keeper and the sources to the
 * v1 connection plane, which registers its own before any feed runs. Declared here (structurally the
 * keeper's own types) because planes do not import each other.
 */
import type { Observable } from "rxjs";
import type { ConnectionEvent } from "../../generated/nsm/connection.js";

/** What any replica needs to open a feed again (JSON-safe); `kind` picks its source. */
export interface FeedSpecOf {
  readonly kind: string;
  readonly [field: string]: unknown;
}

export interface FeedUpstreamOf {
  /** The remote the events come from (the log's `peer`). */
  readonly peer: string;
  /** The upstream's events, already as the feed's clients see them. */
  readonly events: Observable<ConnectionEvent>;
}

/** Feed sources by kind; the keeper looks a feed's kind up when it opens the feed. */
export type FeedSources = Record<string, (spec: FeedSpecOf) => FeedUpstreamOf>;

export interface FeedAttachments {
  /** Something here needs the feed: registers it and runs it here if nobody does. */
  attach(key: string, spec: FeedSpecOf): Promise<void>;
  detach(key: string): void;
}

export interface MonitorFeeds {
  readonly keeper: FeedAttachments;
  readonly sources: FeedSources;
}
