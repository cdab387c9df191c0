/** The in-memory event log is bounded in bytes as well as entries: big entries push the oldest out. */
import test from "ava";
import { createMemoryEventLog } from "../../../lib/state/memory/event-log.js";

test("past maxBytes the oldest entries are trimmed, the newest always kept, and trimmedThrough says so", async t => {
  const log = createMemoryEventLog({ bounds: { maxBytes: 100_000 } });
  t.teardown(() => log.close());
  const big = "w".repeat(10_000); // ~40 kB counted per entry
  const positions: string[] = [];
  for (let i = 0; i < 10; i++) positions.push(await log.append({ connectionIds: [`c${i}`], peer: "p", type: "UPDATE", payload: { i }, at: Date.now(), wire: big }));
  const kept = await log.read({});
  t.true(kept.length >= 1 && kept.length <= 3, `${kept.length} kept`);
  t.is(kept.at(-1)?.position, positions[9]);
  t.is(await log.trimmedThrough(), positions[9 - kept.length] ?? "none");
  const huge = await log.append({ connectionIds: [], peer: "p", type: "UPDATE", payload: {}, at: Date.now(), wire: "h".repeat(200_000) });
  t.deepEqual((await log.read({})).map(e => e.position), [huge], "an entry larger than the bound is still kept, alone");
});
