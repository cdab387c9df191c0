/**
 * A watching Find (watch: true) never ends on its own: when the registry behind this proxy ends one
 * with OK (it shut down gracefully) the caller is told UNAVAILABLE, so it finds again instead of
 * taking the silence for an empty, settled answer. Upstream errors pass with their code (a broken
 * connection already arrives as UNAVAILABLE). Cancelling the caller's stream cancels the upstream one.
 */
import { Observable } from "rxjs";
import { named, type Element } from "../../../pipeline/element.js";
import { unavailable } from "../../../pipeline/errors.js";

export function watchEnd<Req extends { watch: boolean }, Res>(): Element<Req, Res> {
  return named("watch-end", next => (req, ctx) => {
    if (!req.watch) return next(req, ctx);
    return new Observable<Res>(subscriber =>
      next(req, ctx).subscribe({
        next: value => subscriber.next(value),
        error: (error: unknown) => subscriber.error(error),
        complete: () => subscriber.error(unavailable(`${ctx.method}: the registry ended the watch stream`)),
      }),
    );
  });
}
