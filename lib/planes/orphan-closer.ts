/**
 * What a plane does with a connection the next hop accepted but the caller was told failed
 * (pipeline/close-if-failed.ts): Close it there, in the background, count it and log it.
 */
import type { Observable } from "rxjs";
import type { CallContext } from "../pipeline/context.js";
import type { Logger } from "../log.js";

export interface OrphanCloser<Res> {
  /** Starts the Close (for closeIfFailed). */
  readonly close: (answer: Res, ctx: CallContext) => void;
  /** Connections closed at the next hop so far. */
  closed(): number;
  /** Closes that failed (the connection stays until the next hop expires it). */
  failed(): number;
}

export function createOrphanCloser<Res extends { id: string }>(log: Logger, plane: string, closeAtNextHop: (answer: Res, ctx: CallContext) => Observable<unknown> | undefined): OrphanCloser<Res> {
  let closed = 0;
  let failed = 0;
  return {
    close(answer, ctx) {
      closeAtNextHop(answer, ctx)?.subscribe({
        complete: () => log.warn(`${plane}: closed at the next hop a connection whose Request failed after it was accepted there`, { id: answer.id, closed: ++closed }),
        error: (error: unknown) => log.warn(`${plane}: could not close at the next hop a connection whose Request failed`, { id: answer.id, error: String(error), failed: ++failed }),
      });
    },
    closed: () => closed,
    failed: () => failed,
  };
}
