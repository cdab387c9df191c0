/**
 * MonitorConnections through the proxy. A client's selector picks the remote NSMgr (seed form); all
 * clients asking the same remote the same question share one upstream stream (SharedUpstreams), whose
 * events are rewritten once for the client side and relayed once each. Client gone: its share is
 * dropped, and the upstream is cancelled with the last one. Upstream gone: every client's stream
 * ends with UNAVAILABLE. Each upstream event, as relayed, is recorded once in the event log.
 */
import { concatMap, defer, from, switchMap, tap } from "rxjs";
import { chain, type Handler } from "../../pipeline/element.js";
import { createCallContext } from "../../pipeline/context.js";
import type { PlaneDeps } from "../deps.js";
import { type ConnectionEvent, type MonitorScopeSelector, MonitorConnectionService } from "../../../generated/nsm/connection.js";
import { routeSeedSelector } from "./seed-selector.js";
import { seedEventView } from "./seed-event-view.js";
import { createSharedUpstreams } from "./shared-upstream.js";
import { createEventRecorder } from "../record-events.js";

export interface MonitorPlane {
  monitorConnections: Handler<MonitorScopeSelector, ConnectionEvent>;
  /** Keys of the upstream streams open now (one per remote NSMgr and selector). */
  upstreamKeys(): string[];
  close(): void;
}

export function createMonitorPlane(deps: PlaneDeps): MonitorPlane {
  const { upstream, resolver, connections, remoteClusterInfo } = deps;
  const shared = createSharedUpstreams();
  const recorder = createEventRecorder(deps.events, deps.log);

  const relay: Handler<MonitorScopeSelector, ConnectionEvent> = selector => {
    const { remote, upstreamSelector } = routeSeedSelector(selector);
    const key = `${remote.address}|${JSON.stringify(upstreamSelector)}`;
    return shared.join(key, remote.address, () =>
      defer(() => from(resolver.resolveHost(remote.host))).pipe(
        switchMap(remoteIP => {
          // The shared stream belongs to no single client: its own context, no deadline.
          const ctx = createCallContext({ method: MonitorConnectionService.monitorConnections.path });
          const view = { remoteName: remote.name, written: remote.written, remoteIP };
          return upstream
            .serverStream(remote.address, MonitorConnectionService.monitorConnections, upstreamSelector, ctx)
            .pipe(
              concatMap(event => seedEventView(event, view, connections, remoteClusterInfo)),
              tap(event => recorder.record(event, remote.address)),
            );
        }),
      ),
    );
  };

  return {
    monitorConnections: chain<MonitorScopeSelector, ConnectionEvent>()(relay),
    upstreamKeys: () => shared.keys(),
    close() {
      shared.close();
      recorder.close();
    },
  };
}
