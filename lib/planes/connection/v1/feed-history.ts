/**
 * Our connection as a downstream feed last relayed it, read back from the log: the feed's snapshot
 * (written by the feed keeper with the first event of each run) and the feed's entries after it.
 * A replica that takes a feed over without having followed the log while it ran (it started later)
 * compares the new stream's initial state with this instead of with the bare connection record, so
 * it does not announce again what the previous holder already relayed.
 */
import { type EventLog, DEFAULT_READ_LIMIT } from "../../../state/event-log.js";
import type { FeedStore } from "../../../state/feed-store.js";
import type { Connection } from "../../../../generated/nsm/connection.js";
import { decodeEvent } from "../../monitor-log.js";

export async function lastRelayed(feeds: FeedStore, events: EventLog, key: string, id: string): Promise<Connection | undefined> {
  const snapshot = await feeds.snapshot(key);
  let conn = snapshot ? decodeEvent(snapshot.state).connections[id] : undefined;
  let after = snapshot?.position;
  for (;;) {
    const page = await events.read({ feed: key, ...(after === undefined ? {} : { after }) });
    for (const entry of page) {
      after = entry.position;
      if (entry.type !== "UPDATE" || entry.wire === undefined) continue;
      conn = decodeEvent(entry.wire).connections[id] ?? conn;
    }
    if (page.length < DEFAULT_READ_LIMIT) return conn;
  }
}

/**
 * The connection to compare a taken-over feed's stream with: the record (the last Request's answer)
 * with the path, context and state the feed last relayed, which is what a relay changes.
 */
export function withRelayed(recorded: Connection, relayed: Connection | undefined): Connection {
  return relayed ? { ...recorded, path: relayed.path, context: relayed.context, state: relayed.state } : recorded;
}
