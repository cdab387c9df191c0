/**
 * A remote domain's registry restarting should cost its users seconds, not a minute of failed lookups
 * (deployments-k8s#13118). A listing Find (watch: false) to another domain is remembered: the
 * registry's whole answer (its responses before this proxy rewrites them), per domain and query, in a
 * bounded LRU. When that registry cannot be reached (UNAVAILABLE, DEADLINE_EXCEEDED) the last good
 * answer is given again if it is younger than `staleForMs`, so the elements above rewrite it and learn
 * its routes exactly as for a fresh one; the log says so (one warn line per domain and interval) and
 * the observer counts it; a registry that does not answer at all gets the same just before the call's
 * deadline (a tenth of the time, at most 1 s, before it). Any other error passes as it is. Watching Finds pass untouched
 * (watch-reconnect.ts). Place it right before the route to the domain's registry.
 */
import { Observable } from "rxjs";
import { named, type Element } from "../../../pipeline/element.js";
import { Code, ProxyError } from "../../../pipeline/errors.js";
import type { Logger } from "../../../log.js";
import { observer } from "../../../observability/observer.js";
import { remoteDomain } from "./interdomain-branch.js";

/** Codes that mean "the registry was not reached", not "the registry said no". */
export const isUnreachable = (error: unknown): boolean => {
  const { code } = ProxyError.from(error);
  return code === Code.UNAVAILABLE || code === Code.DEADLINE_EXCEEDED;
};

interface Answer<Res> {
  readonly responses: readonly Res[];
  readonly at: number;
}

/** Last good answers by key, least recently used dropped first; answers longer than `maxResponses` are not kept. */
export interface AnswerCache<Res> {
  get(key: string): Answer<Res> | undefined;
  set(key: string, responses: readonly Res[], at: number): void;
  readonly size: number;
}

export function createAnswerCache<Res>(maxEntries: number, maxResponses: number): AnswerCache<Res> {
  const answers = new Map<string, Answer<Res>>();
  return {
    get(key) {
      const answer = answers.get(key);
      if (answer === undefined) return undefined;
      answers.delete(key);
      answers.set(key, answer);
      return answer;
    },
    set(key, responses, at) {
      answers.delete(key);
      if (responses.length > maxResponses) return;
      answers.set(key, { responses, at });
      if (answers.size > maxEntries) answers.delete(answers.keys().next().value as string);
    },
    get size() {
      return answers.size;
    },
  };
}

/** True at most once per `everyMs` for each key (the first time always). */
export function createRateLimit(everyMs: number, now: () => number = Date.now, maxKeys = 1024): (key: string) => boolean {
  const last = new Map<string, number>();
  return key => {
    const t = now();
    const previous = last.get(key);
    if (previous !== undefined && t - previous < everyMs) return false;
    last.delete(key);
    last.set(key, t);
    if (last.size > maxKeys) last.delete(last.keys().next().value as string);
    return true;
  };
}

export interface StaleAnswersOptions {
  /** How old a remembered answer may be when it is given again; 0: never remember. */
  readonly staleForMs: number;
  readonly log: Logger;
  /** Queries remembered (default 1024) and responses per remembered answer (default 1000). */
  readonly maxEntries?: number;
  readonly maxResponses?: number;
  /** One warn line per domain this often (default 30 s). */
  readonly warnEveryMs?: number;
  readonly now?: () => number;
}

/** Runs `fallBack` a little before a deadline `remainingMs` away (a tenth of the time, at most 1 s, before it). */
function earlyFallBack(remainingMs: number, fallBack: () => void): ReturnType<typeof setTimeout> | undefined {
  if (remainingMs <= 0) return undefined;
  return setTimeout(fallBack, remainingMs - Math.min(1_000, remainingMs / 10));
}

/** The query as a cache key: everything but `watch` (always false here). */
const queryKey = (domain: string, req: { watch: boolean }) => `${domain}\n${JSON.stringify({ ...req, watch: undefined })}`;

export function staleAnswers<Req extends { watch: boolean }, Res>(options: StaleAnswersOptions): Element<Req, Res> {
  const { staleForMs, log, now = Date.now } = options;
  const cache = createAnswerCache<Res>(options.maxEntries ?? 1024, options.maxResponses ?? 1000);
  const shouldWarn = createRateLimit(options.warnEveryMs ?? 30_000, now);
  return named("stale-answers", next => (req, ctx) => {
    if (req.watch || staleForMs <= 0) return next(req, ctx);
    const domain = ctx.require(remoteDomain);
    const key = queryKey(domain, req);
    return new Observable<Res>(subscriber => {
      const fresh: Res[] = [];
      const answer = (responses: readonly Res[]) => {
        for (const res of responses) subscriber.next(res);
        subscriber.complete();
      };
      const fallBack = (error: unknown) => {
        const last = isUnreachable(error) ? cache.get(key) : undefined;
        const ageMs = last === undefined ? Infinity : now() - last.at;
        if (last === undefined || ageMs > staleForMs) return subscriber.error(error);
        if (shouldWarn(domain)) {
          log.warn("registry of a remote domain out of reach; answering Finds from its last good answer (stale)", {
            domain,
            method: ctx.method,
            ageMs,
            staleForMs,
            error: ProxyError.from(error).message,
          });
        }
        observer().registryStaleAnswer(domain);
        answer(last.responses);
      };
      const upstream = next(req, ctx).subscribe({
        next: res => void fresh.push(res),
        complete: () => {
          cache.set(key, fresh, now());
          answer(fresh);
        },
        error: fallBack,
      });
      // A registry that hangs (stopped, packets dropped) answers nothing before the call's deadline: when
      // there is an answer to fall back on, give it just before the deadline instead of failing.
      const early = ctx.deadline === undefined || upstream.closed ? undefined : earlyFallBack(ctx.deadline - now(), () => {
        if (!upstream.closed && cache.get(key) !== undefined) {
          upstream.unsubscribe();
          fallBack(new ProxyError(Code.DEADLINE_EXCEEDED, `${ctx.method}: the registry of domain "${domain}" did not answer before the call's deadline`));
        }
      });
      return () => {
        if (early !== undefined) clearTimeout(early);
        upstream.unsubscribe();
      };
    });
  });
}
