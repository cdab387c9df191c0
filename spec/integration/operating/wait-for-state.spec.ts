/** lib/state/wait-for-state.ts against a loopback port with no Redis: tries, doubling pauses, a limit. */
import test from "ava";
import { createLogger } from "../../../lib/log.js";
import { waitForStateStore } from "../../../lib/state/wait-for-state.js";
import { defaultEventLogBounds } from "../../../lib/state/event-log.js";
import { freePort } from "../../support/ports.js";

// A 4 s limit leaves room for three tries even when a try takes 400 ms on a loaded machine.
test("with a limit, the wait logs every try with its doubling pause and gives up with the last error", async t => {
  const port = await freePort();
  const lines: string[] = [];
  const log = createLogger("info", line => lines.push(line));
  const started = Date.now();
  const error = await t.throwsAsync(
    waitForStateStore(
      { kind: "redis", url: `redis://user:pw@127.0.0.1:${port}`, masterName: "mymaster", prefix: "p:", events: defaultEventLogBounds, waitReplicas: 0, waitTimeoutMs: 1000 },
      { log, timeoutMs: 4000, tryMs: 150, firstPauseMs: 100, maxPauseMs: 400 },
    ),
  );
  t.regex(error?.message ?? "", /not reachable within 150 ms/);
  t.true(Date.now() - started < 7000, "gives up near its limit");
  const waits = lines.filter(line => line.includes(" warn waiting for the state store "));
  t.true(waits.length >= 3, lines.join("\n"));
  t.deepEqual(waits.slice(0, 3).map(line => /retryInMs=(\d+)/.exec(line)?.[1]), ["100", "200", "400"]);
  t.regex(lines.at(-1)!, / error state store not reachable; giving up attempts=\d+/);
  t.false(lines.some(line => line.includes("pw@")), "no password in the log");
});
