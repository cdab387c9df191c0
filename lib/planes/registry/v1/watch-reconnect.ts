/**
 * A watching Find (watch: true) to another domain outlives a restart of that domain's registry: when
 * the upstream stream breaks with UNAVAILABLE (or ends, which watch-end turns into UNAVAILABLE) it is
 * opened again with backoff (`initialDelayMs` doubling to `maxDelayMs`, jittered) for up to
 * `giveUpAfterMs`; after that the caller's stream ends with the last error, as without this element.
 *
 * The caller keeps one continuous view: after reconnecting, the registry's current list (a listing
 * Find, watch: false) is compared with what the caller already holds; entries gone meanwhile come as
 * `deleted: true`, new or changed ones once, unchanged ones not at all; the new watch stream (opened
 * first, held back until the list is in) then goes on, deduplicated against that view by name and
 * content. Any other error ends the caller's stream as it is. Place it right before the route to the
 * domain's registry (so every attempt resolves the domain again).
 */
import { Observable, type Subscription, timeout } from "rxjs";
import { named, type Element } from "../../../pipeline/element.js";
import { Code, ProxyError } from "../../../pipeline/errors.js";
import type { Logger } from "../../../log.js";
import { isUnreachable } from "./stale-answers.js";

/** What a Find response is about: the entry's name, the entry (its content), and the response telling its deletion. */
export interface WatchEntries<Res> {
  nameOf(res: Res): string | undefined;
  entryOf(res: Res): unknown;
  deleted(res: Res): boolean;
  asDeleted(res: Res): Res;
}

export interface WatchReconnectOptions {
  /** How long the registry may stay out of reach before the caller is told; 0: never reconnect. */
  readonly giveUpAfterMs: number;
  /** Deadline of the listing Find after a reconnect. */
  readonly listTimeoutMs: number;
  readonly log: Logger;
  readonly initialDelayMs?: number;
  readonly maxDelayMs?: number;
  readonly now?: () => number;
  readonly random?: () => number;
}

/** The delay before attempt `attempt` (0-based): initial * 2^attempt up to max, then jittered to 50-100%. */
export function backoffDelay(attempt: number, initialMs: number, maxMs: number, random: () => number = Math.random): number {
  const full = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30));
  return Math.round(full * (0.5 + random() * 0.5));
}

/**
 * The caller's view of a watch: entry name -> the last response it got and that entry's content.
 * `pass` says whether a response tells the caller something new (and remembers it when so); `gone`
 * gives deletions for the names the caller holds that are missing from a fresh list.
 */
export function createWatchView<Res>(entries: WatchEntries<Res>) {
  const held = new Map<string, { res: Res; content: string }>();
  return {
    pass(res: Res): boolean {
      const name = entries.nameOf(res);
      if (name === undefined) return true;
      if (entries.deleted(res)) return held.delete(name);
      const content = JSON.stringify(entries.entryOf(res));
      if (held.get(name)?.content === content) return false;
      held.set(name, { res, content });
      return true;
    },
    gone(fresh: readonly Res[]): Res[] {
      const present = new Set(fresh.map(res => entries.nameOf(res)));
      return [...held.entries()].filter(([name]) => !present.has(name)).map(([, { res }]) => entries.asDeleted(res));
    },
  };
}

export function watchReconnect<Req extends { watch: boolean }, Res>(entries: WatchEntries<Res>, options: WatchReconnectOptions): Element<Req, Res> {
  const { giveUpAfterMs, listTimeoutMs, log, initialDelayMs = 100, maxDelayMs = 5_000, now = Date.now, random = Math.random } = options;
  return named("watch-reconnect", next => (req, ctx) => {
    if (!req.watch || giveUpAfterMs <= 0) return next(req, ctx);
    return new Observable<Res>(subscriber => {
      const view = createWatchView(entries);
      const send = (res: Res) => {
        if (view.pass(res)) subscriber.next(res);
      };
      let watch: Subscription | undefined;
      let list: Subscription | undefined;
      let retry: ReturnType<typeof setTimeout> | undefined;
      let outageSince: number | undefined;
      let attempt = 0;
      let connection = 0; // each (re)connection's watch and listing may both fail: only the first failure counts

      const broke = (of: number) => (error: unknown) => {
        if (of !== connection) return;
        connection++;
        watch?.unsubscribe();
        list?.unsubscribe();
        if (!isUnreachable(error)) return subscriber.error(error);
        const t = now();
        outageSince ??= t;
        if (t - outageSince >= giveUpAfterMs) return subscriber.error(error);
        // the last try comes at the bound, not a whole backoff step after it
        const delay = Math.min(backoffDelay(attempt++, initialDelayMs, maxDelayMs, random), giveUpAfterMs - (t - outageSince));
        if (attempt === 1) log.warn("registry watch stream broke; reconnecting with backoff", { method: ctx.method, error: ProxyError.from(error).message, giveUpAfterMs });
        retry = setTimeout(reconnect, delay);
      };

      // First connection: the initial answer and the updates go straight through.
      const open = (onEvent: (res: Res) => void, fail: (error: unknown) => void) =>
        next(req, ctx).subscribe({
          next: onEvent,
          error: fail,
          complete: () => fail(new ProxyError(Code.UNAVAILABLE, `${ctx.method}: the registry ended the watch stream`)),
        });

      // Later connections: the new watch is held back until the listing tells what changed while away.
      const reconnect = () => {
        retry = undefined;
        const mine = connection;
        const fail = broke(mine);
        const held: Res[] = [];
        let listed = false;
        watch = open(res => (listed ? send(res) : held.push(res)), fail);
        if (mine !== connection) return; // the registry is still down: the watch failed at once
        const fresh: Res[] = [];
        list = next({ ...req, watch: false }, ctx.withDeadline(now() + listTimeoutMs))
          .pipe(timeout({ each: listTimeoutMs, with: () => { throw new ProxyError(Code.DEADLINE_EXCEEDED, `${ctx.method}: listing after reconnect took over ${listTimeoutMs} ms`); } }))
          .subscribe({
            next: res => void fresh.push(res),
            error: fail,
            complete: () => {
              if (outageSince !== undefined) log.info("registry watch stream reconnected", { method: ctx.method, afterMs: now() - outageSince, attempts: attempt });
              outageSince = undefined;
              attempt = 0;
              listed = true;
              for (const res of view.gone(fresh)) send(res);
              for (const res of [...fresh, ...held]) send(res);
            },
          });
      };

      watch = open(send, broke(connection));
      return () => {
        if (retry !== undefined) clearTimeout(retry);
        watch?.unsubscribe();
        list?.unsubscribe();
      };
    });
  });
}
