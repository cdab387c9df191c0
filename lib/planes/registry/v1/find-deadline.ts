/**
 * A Find that lists entries and ends (watch: false) gets a deadline like a unary call, so a registry
 * that never answers cannot hold it forever; a watching Find (watch: true) is meant to live as long as
 * its caller wants and gets none (the caller's own deadline, if any, still travels upstream).
 */
import { named, type Element } from "../../../pipeline/element.js";
import { deadline } from "../../../pipeline/deadline.js";

export function findDeadline<Req extends { watch: boolean }, Res>(defaultTimeoutMs: number, now: () => number = Date.now): Element<Req, Res> {
  const limited = deadline<Req, Res>(defaultTimeoutMs, now);
  return named("find-deadline", next => {
    const withDeadline = limited(next);
    return (req, ctx) => (req.watch ? next(req, ctx) : withDeadline(req, ctx));
  });
}
