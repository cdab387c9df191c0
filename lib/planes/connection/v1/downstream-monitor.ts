/**
 * A monitor stream to the next hop for one established connection (the SDK's monitor eventLoop and
 * clientFilter). The selector is our own segment {id, name}. Each event about our connection is
 * re-emitted upstream as an UPDATE in our frame: our connection with the next hop's path (index set
 * back to ours), context and state; a DELETE downstream becomes state DOWN (the connection is gone
 * below us, but only the caller may close it here). Events that change nothing, and an initial state
 * that agrees with ours, are dropped. When the stream fails or ends, one UPDATE with state DOWN is
 * emitted and the monitor is dead (the caller heals by refreshing, which opens a new one).
 * Each DOWN goes with why (end-reasons.ts): downstream_down / downstream_deleted seen by the next hop,
 * downstream_stream_lost seen by this proxy (`self`) with the stream's error.
 */
import { type Observable, from, switchMap } from "rxjs";
import { createCallContext } from "../../../pipeline/context.js";
import { type Upstream, outgoingMetadata } from "../../../pipeline/upstream.js";
import { type Connection, type ConnectionEvent, ConnectionEventType, MonitorConnectionService, type MonitorScopeSelector, State } from "../../../../generated/nsm/connection.js";
import { currentSegment, segment } from "./path.js";
import { sameConnection } from "./same-connection.js";
import type { EventEnd } from "../../../state/event-log.js";
import { EndReason, connectionEnd, errorText } from "../../end-reasons.js";

export interface DownstreamMonitor {
  readonly nextHop: string;
  alive(): boolean;
  /** The connection was refreshed: later events are compared with and built on this one. */
  update(conn: Connection): void;
  stop(): void;
}

/** Opens downstream monitors: (next hop, our connection) -> a running monitor. */
export type WatchDownstream = (nextHop: string, conn: Connection) => DownstreamMonitor;

/** The UPDATE to send upstream for one downstream event, or undefined; `ours` is our connection as last reported. */
export function relayEvent(event: ConnectionEvent, ours: Connection): { event: ConnectionEvent; latest: Connection } | undefined {
  let latest = ours;
  const index = ours.path?.index ?? 0;
  const out: Record<string, Connection> = {};
  for (const incoming of Object.values(event.connections)) {
    const segments = incoming.path?.pathSegments ?? [];
    if (segments.length < index + 1 || segments[index]?.id !== latest.id) continue;
    const at = incoming.path?.index ?? 0;
    if (at !== index && at !== index + 1) continue;
    if (event.type === ConnectionEventType.INITIAL_STATE_TRANSFER && incoming.state === latest.state) continue;
    const shown: Connection = {
      ...latest,
      path: { pathSegments: segments, index },
      context: incoming.context,
      state: event.type === ConnectionEventType.DELETE ? State.DOWN : incoming.state,
    };
    if (sameConnection(shown, latest)) continue;
    out[shown.id] = shown;
    latest = shown;
  }
  return Object.keys(out).length > 0 ? { event: { type: ConnectionEventType.UPDATE, connections: out }, latest } : undefined;
}

/**
 * `emit` gets each event to send upstream with the next hop it came from; `metadata` is what the
 * stream carries (our token in insecure mode): at once when it is at hand, else once it is made.
 */
/** The next hop's MonitorConnections for our segment (`name`, `id`), carrying `metadata` (our token in insecure mode). */
export function openDownstreamMonitor(
  upstream: Upstream,
  nextHop: string,
  name: string,
  id: string,
  metadata: () => ReadonlyMap<string, string> | Promise<ReadonlyMap<string, string>>,
): Observable<ConnectionEvent> {
  const selector: MonitorScopeSelector = { pathSegments: [segment(name, id)], networkServices: [] };
  const ctx = createCallContext({ method: MonitorConnectionService.monitorConnections.path });
  const open = (md: ReadonlyMap<string, string>) => upstream.serverStream(nextHop, MonitorConnectionService.monitorConnections, selector, ctx.with(outgoingMetadata, md));
  const md = metadata();
  return md instanceof Promise ? from(md).pipe(switchMap(open)) : open(md);
}

export function downstreamWatcher(
  upstream: Upstream,
  emit: (event: ConnectionEvent, nextHop: string, end?: EventEnd) => void,
  metadata: () => ReadonlyMap<string, string> | Promise<ReadonlyMap<string, string>>,
  /** This proxy's NSM_NAME: the hop that sees a stream break. */
  self = "",
): WatchDownstream {
  return (nextHop, conn) => {
    let ours = conn;
    let alive = true;
    let stopped = false;
    const own = currentSegment(conn);
    const lost = (error?: unknown) => {
      alive = false;
      if (stopped) return;
      const end = connectionEnd(EndReason.downstreamStreamLost, self, error === undefined ? "the stream ended" : errorText(error));
      emit({ type: ConnectionEventType.UPDATE, connections: { [ours.id]: { ...ours, state: State.DOWN } } }, nextHop, end);
    };
    const events$ = openDownstreamMonitor(upstream, nextHop, own?.name ?? "", own?.id ?? conn.id, metadata);
    const subscription = events$.subscribe({
      next: event => {
        const relayed = relayEvent(event, ours);
        if (!relayed) return;
        ours = relayed.latest;
        const down = Object.values(relayed.event.connections).some(c => c.state === State.DOWN);
        const end = down ? connectionEnd(event.type === ConnectionEventType.DELETE ? EndReason.downstreamDeleted : EndReason.downstreamDown, nextHop) : undefined;
        emit(relayed.event, nextHop, end);
      },
      error: lost,
      complete: () => lost(),
    });
    return {
      nextHop,
      alive: () => alive && !stopped,
      update(next) {
        ours = next;
      },
      stop() {
        stopped = true;
        alive = false;
        subscription.unsubscribe();
      },
    };
  };
}
