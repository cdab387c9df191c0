/**
 * The resume contract of MonitorConnections, run for both generations (_generations.ts) on one
 * in-process gateway whose state is a real redis-server (v1 monitor streams are served from the log
 * when the store is shared): every event carries its log position (field 1000); a subscriber that
 * resumes after a position it was sent gets exactly the events after it, in order, then live ones;
 * a position that is not one is INVALID_ARGUMENT, one the log has trimmed past OUT_OF_RANGE.
 */
import test, { type ExecutionContext } from "ava";
import { randomUUID } from "node:crypto";
import { status } from "@grpc/grpc-js";
import { ConnectionEventType, MonitorConnectionService } from "../../../generated/nsm/connection.js";
import { type StateStore, createStateStore, stateOptionsFromEnv } from "../../../lib/state/state.js";
import type { EventLogBounds } from "../../../lib/state/event-log.js";
import { closeAll, openServerStream } from "../../support/grpc.js";
import { waitFor } from "../../support/wait.js";
import { startTestGateway, stopGateways } from "../../support/gateway.js";
import { type RedisProcess, startRedis, stopAllRedis } from "../../support/redis.js";
import { GENERATIONS, type Generation, monitorWithPositions } from "./_generations.js";

let redis: RedisProcess | undefined;
const stores = new Set<StateStore>();

test.before(async () => {
  redis = await startRedis();
});
test.afterEach.always(async () => {
  await stopGateways();
  await closeAll();
  await Promise.all([...stores].map(s => s.close()));
  stores.clear();
});
test.after.always(async () => {
  await stopAllRedis();
});

async function setup(t: ExecutionContext, generation: Generation, events?: EventLogBounds) {
  t.timeout(30_000);
  if (!redis) throw new Error("redis-server not started");
  const options = stateOptionsFromEnv({ REDIS_URL: redis.url, PNSMGR_REDIS_PREFIX: `pnsmgr-resume-${randomUUID()}:` });
  if (options.kind !== "redis") throw new Error("not redis");
  const state = await createStateStore({ ...options, ...(events ? { events } : {}) });
  stores.add(state);
  const { config } = await generation.prepare();
  const gateway = await startTestGateway(config, { state });
  const remote = await generation.begin(gateway);
  const address = remote.address(gateway);
  const monitor = (resumeAfter?: string) =>
    openServerStream(address, monitorWithPositions, remote.selector, resumeAfter === undefined ? {} : { metadata: { "pnsmgr-resume-after": resumeAfter } });
  // A client that has seen n = 0 (the v1 relay of it may follow the initial state).
  const first = monitor();
  await waitFor(() => first.received.some(r => remote.nOf(r) === 0), 5000, "n = 0 through the first client");
  return { remote, address, monitor, first };
}

for (const generation of GENERATIONS) {
  test.serial(`${generation.name}: every event carries its position; resuming after one gives exactly the events after it, then live ones`, async t => {
    const { remote, monitor, first } = await setup(t, generation);
    const seen = first.received.length;
    for (let n = 1; n <= 3; n++) remote.publish(n);
    await waitFor(() => first.received.length === seen + 3, 5000, "events 1-3");
    const positions = first.received.map(r => r.position);
    t.true(positions.every(p => /^\d+-\d+$/.test(p)), positions.join(" "));
    t.is(new Set(positions).size, positions.length, "distinct positions");
    const one = first.received.find(r => remote.nOf(r) === 1)!;

    const resumed = monitor(one.position);
    await waitFor(() => resumed.received.length === 2, 5000, "events 2 and 3 again");
    t.deepEqual(resumed.received.map(r => [r.position, remote.nOf(r)]), first.received.slice(-2).map(r => [r.position, remote.nOf(r)]), "the same events at the same positions");
    remote.publish(4);
    await waitFor(() => resumed.received.length === 3 && first.received.length === seen + 4, 5000, "event 4 live on both");
    t.is(remote.nOf(resumed.received[2]!), 4);
    t.is(resumed.received[2]!.position, first.received.at(-1)!.position);
    await new Promise(r => setTimeout(r, 100));
    t.is(resumed.received.length, 3, "nothing else, nothing twice");
    t.false(resumed.received.some(r => r.event.type === ConnectionEventType.INITIAL_STATE_TRANSFER), "no initial state on a resumed stream");
    first.cancel();
    resumed.cancel();
  });

  test.serial(`${generation.name}: a resume position that is not one, or that the log has trimmed past, is refused with a reason`, async t => {
    const { remote, address, monitor, first } = await setup(t, generation, { maxLen: 3, maxAgeMs: 3_600_000, trim: "exact" });
    const bad = openServerStream(address, MonitorConnectionService.monitorConnections, remote.selector, { metadata: { "pnsmgr-resume-after": "yesterday" } });
    const badEnd = await bad.status;
    t.is(badEnd.code, status.INVALID_ARGUMENT);
    t.regex(badEnd.details, /"yesterday" is not of the form <ms>-<seq>/);

    const initial = first.received[0]!;
    const seen = first.received.length;
    for (let n = 1; n <= 4; n++) remote.publish(n);
    await waitFor(() => first.received.length === seen + 4, 5000, "events 1-4");
    const trimmed = monitor(initial.position);
    const end = await trimmed.status;
    t.is(end.code, status.OUT_OF_RANGE);
    t.regex(end.details, /no longer holds every event after it .*subscribe again without it/);
    first.cancel();
  });
}
