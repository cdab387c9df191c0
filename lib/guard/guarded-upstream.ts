/**
 * The planes' Upstream: every address they dial goes through the destination guard (or, for the
 * operator's configured addresses, is taken as trusted) and the client pool gets only the Destination
 * the guard returned. The guard's refusal is the call's error; nothing is dialled then.
 */
import { type Observable, defer, from, switchMap } from "rxjs";
import type { Destination, PinnedUpstream, Upstream } from "../pipeline/upstream.js";
import { type DestinationGuard, trustedDestination } from "./destination-guard.js";

export function createGuardedUpstream(pool: PinnedUpstream, guard: DestinationGuard, trusted: Iterable<string | undefined>): Upstream {
  const configured = new Map<string, Destination>();
  for (const address of trusted) if (address !== undefined) configured.set(address, trustedDestination(address));
  const destination = (address: string): Observable<Destination> => {
    const known = configured.get(address);
    return known === undefined ? defer(() => from(guard.check(address))) : from([known]);
  };
  return {
    unary: (address, method, request, ctx) => destination(address).pipe(switchMap(d => pool.unary(d, method, request, ctx))),
    serverStream: (address, method, request, ctx) => destination(address).pipe(switchMap(d => pool.serverStream(d, method, request, ctx))),
    bidiStream: (address, method, requests, ctx) => destination(address).pipe(switchMap(d => pool.bidiStream(d, method, requests, ctx))),
    close: () => pool.close(),
  };
}
