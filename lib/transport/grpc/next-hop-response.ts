/**
 * The client side of response metadata: writes a next hop's headers and trailers into the slots the
 * elements opened (pipeline/next-hop-response.ts), and holds a unary call's answer until its trailers
 * are in. Does nothing on calls no element asked about.
 */
import type { Metadata, StatusObject } from "@grpc/grpc-js";
import type { CallContext } from "../../pipeline/context.js";
import { noteNextHopHeaders, noteNextHopTrailers, wantsNextHopResponse } from "../../pipeline/next-hop-response.js";
import { lastTextValues } from "./metadata-text.js";

export interface NextHopResponseWatch {
  /**
   * Listens to a call's headers and status (before the pool's own listeners, so that the trailers
   * are noted before the call's Observable completes or fails).
   */
  watch(call: NodeJS.EventEmitter): void;
  /**
   * Runs a unary call's answer once its trailers are noted. grpc-js calls a unary callback just
   * before it emits the call's status (where the trailers of a success are), so the answer waits for it.
   */
  settle(answer: () => void): void;
}

/** What a call gets when no element asked for the next hop's response: nothing watched, nothing held. */
const UNWATCHED: NextHopResponseWatch = { watch: () => undefined, settle: answer => answer() };

export function nextHopResponseWatch(ctx: CallContext): NextHopResponseWatch {
  if (!wantsNextHopResponse(ctx)) return UNWATCHED;
  let pending: (() => void) | undefined;
  let statusSeen = false;
  let trailersNoted = false;
  return {
    watch(call) {
      call.on("metadata", (headers: Metadata) => noteNextHopHeaders(ctx, lastTextValues(headers)));
      // A stream's failure is emitted before its status, with the same trailers: noted once, here.
      call.on("error", (error: { metadata?: Metadata }) => {
        trailersNoted = true;
        noteNextHopTrailers(ctx, lastTextValues(error.metadata));
      });
      call.on("status", (status: StatusObject) => {
        statusSeen = true;
        if (!trailersNoted) noteNextHopTrailers(ctx, lastTextValues(status.metadata));
        const answer = pending;
        pending = undefined;
        answer?.();
      });
    },
    settle(answer) {
      if (statusSeen) answer();
      else pending = answer;
    },
  };
}
