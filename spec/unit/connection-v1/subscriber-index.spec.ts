/** The monitor server's subscriber index: it may only skip subscribers whose selector would refuse the connection. */
import test from "ava";
import fc from "fast-check";
import { createSubscriberIndex } from "../../../lib/planes/connection/v1/subscriber-index.js";
import { matchesSelector } from "../../../lib/planes/connection/v1/monitor-selector.js";
import type { Connection, MonitorScopeSelector } from "../../../generated/nsm/connection.js";
import { fwdConnection, seg } from "./_support.js";

const selector = (segments: [string, string][], networkServices: string[] = []): MonitorScopeSelector => ({ pathSegments: segments.map(([name, id]) => seg(name, id)), networkServices });
const path = (...segments: [string, string][]): Connection => ({ ...fwdConnection(), path: { index: 0, pathSegments: segments.map(([name, id]) => seg(name, id)) } });

test("filed by the first segment's id; selectors without one are asked always; delete forgets", t => {
  const index = createSubscriberIndex<string>();
  index.add("by-id", selector([["fwd-1", "a"]]));
  index.add("by-name", selector([["fwd-1", ""]]));
  index.add("all", selector([]));
  index.add("later-id", selector([["", ""], ["nse", "z"]]));
  t.deepEqual([...index.candidates([path(["fwd-1", "a"]), path(["fwd-1", "a"], ["x", "b"])])].sort(), ["all", "by-id", "by-name", "later-id"], "each once");
  t.deepEqual([...index.candidates([path(["fwd-1", "b"])])].sort(), ["all", "by-name", "later-id"]);
  t.deepEqual([...index.candidates([{ ...fwdConnection(), path: undefined }])].sort(), ["all", "by-name", "later-id"]);
  index.delete("by-id", selector([["fwd-1", "a"]]));
  index.delete("all", selector([]));
  t.deepEqual([...index.candidates([path(["fwd-1", "a"])])].sort(), ["by-name", "later-id"]);
});

test("every subscriber whose selector matches a connection is a candidate for it", t => {
  const name = fc.constantFrom("", "a", "b");
  const id = fc.constantFrom("", "1", "2", "3");
  const segments = fc.array(fc.tuple(name, id), { maxLength: 4 });
  fc.assert(
    fc.property(fc.array(segments, { minLength: 1, maxLength: 6 }), fc.array(segments, { minLength: 1, maxLength: 3 }), (selectors, paths) => {
      const index = createSubscriberIndex<number>();
      selectors.forEach((s, i) => index.add(i, selector(s)));
      const conns = paths.map(p => path(...p));
      const candidates = index.candidates(conns);
      selectors.forEach((s, i) => {
        if (conns.some(c => matchesSelector(c, selector(s)))) t.true(candidates.has(i), `selector ${JSON.stringify(s)} matches ${JSON.stringify(paths)}`);
      });
    }),
    { seed: 13, numRuns: 500 },
  );
});
