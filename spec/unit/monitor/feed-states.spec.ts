/**
 * Walks every row of FEED_TRANSITIONS through the real keeper (in-memory store, a Subject as the
 * upstream, sinon's clock for lease timing): each row gets a scenario that brings feed "f1" to the
 * row's `from` state, causes its event the way it happens in service (a client, a round, the upstream,
 * the store), and then checks that the keeper took exactly that row, that the feed is in the row's `to`
 * state as far as the outside can see (running(), the lease, the upstream, the store), and the row's
 * effect. A row without a scenario, or a scenario without a row, fails.
 */
import test, { type ExecutionContext } from "ava";
import sinon from "sinon";
import { Subject } from "rxjs";
import { Connection, type ConnectionEvent, ConnectionEventType } from "../../../generated/nsm/connection.js";
import { silentLogger } from "../../../lib/log.js";
import { createMemoryStateStore } from "../../../lib/state/state.js";
import { type FeedStore, feedLease } from "../../../lib/state/feed-store.js";
import type { ReplicaRegistry } from "../../../lib/state/replica-registry.js";
import { UPSTREAM_LOST, createFeedKeeper } from "../../../lib/planes/monitor/feed-keeper.js";
import { FEED_TRANSITIONS, type FeedState, type FeedTransition, transitionFor } from "../../../lib/planes/monitor/feed-states.js";

const KEY = "f1";
const SPEC = { kind: "test" };
const LEASE_MS = 3_000;
const LEASE = feedLease(KEY);

/** A store call held until opened: the feed stays in the state that waits for it. */
class Gate {
  waiting = 0;
  private openIt!: () => void;
  private readonly opened = new Promise<void>(resolve => (this.openIt = resolve));
  async pass(): Promise<void> {
    this.waiting++;
    await this.opened;
    this.waiting--;
  }
  open(): void {
    this.openIt();
  }
}

interface WorldOptions {
  readonly lingerMs?: number;
  /** Between ticks; default a third of the lease, driven by the fake clock. */
  readonly tickMs?: number;
}

function world(options: WorldOptions = {}) {
  const clock = sinon.useFakeTimers({ now: 1_000_000, toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "Date"] });
  const store = createMemoryStateStore({ now: () => Date.now() });
  const gates: { acquire?: Gate; append?: Gate; remove?: Gate } = {};
  const faults = { acquire: false, append: false };
  let acquireCalls = 0;
  // The keeper's view of the store, with calls that can be held (gates) or made to fail (faults).
  const replicas: ReplicaRegistry = {
    ...store.replicas,
    async tryAcquire(key, replicaId, ttlMs) {
      acquireCalls++;
      await gates.acquire?.pass();
      if (faults.acquire) throw new Error("store not reachable");
      return store.replicas.tryAcquire(key, replicaId, ttlMs);
    },
  };
  const feeds: FeedStore = {
    ...store.feeds,
    async append(key, holder, event, state) {
      if (faults.append) throw new Error("store not reachable");
      await gates.append?.pass();
      return store.feeds.append(key, holder, event, state);
    },
    async remove(key, ifIdleForMs) {
      await gates.remove?.pass();
      return store.feeds.remove(key, ifIdleForMs);
    },
  };
  const upstreams: Subject<ConnectionEvent>[] = [];
  const taken: FeedTransition[] = [];
  let state: FeedState = "off";
  const keeper = createFeedKeeper({
    feeds,
    replicas,
    replicaId: "replica-a",
    sources: {
      test: () => {
        const events = new Subject<ConnectionEvent>();
        upstreams.push(events);
        return { peer: "10.0.0.2:5001", events };
      },
    },
    leaseMs: LEASE_MS,
    lingerMs: options.lingerMs ?? 0,
    log: silentLogger,
    ...(options.tickMs ? { tickMs: options.tickMs } : {}),
    onTransition: (key, transition) => {
      if (key !== KEY) return;
      taken.push(transition);
      state = transition.to;
    },
  });
  const attaching: Promise<void>[] = [];
  return {
    clock,
    store,
    keeper,
    gates,
    faults,
    upstreams,
    taken,
    attaching,
    state: () => state,
    acquireCalls: () => acquireCalls,
    /** Attaches a client without waiting (the attach may be held by a gate). */
    attach: () => attaching.push(keeper.attach(KEY, SPEC).catch(() => undefined)),
    holder: () => store.replicas.holder(LEASE),
    entries: () => store.events.read({ feed: KEY }),
    observed: () => upstreams.filter(u => u.observed).length,
    /** Lets every promise chain that is not waiting for a timer or a gate run to its end. */
    settle: async () => {
      for (let i = 0; i < 20; i++) await new Promise(resolve => setImmediate(resolve));
    },
    /** The lease runs out (no renewal) and replica B takes it. */
    leaseMovesToB: async () => {
      clock.tick(LEASE_MS + 1);
      await store.replicas.tryAcquire(LEASE, "replica-b", 60_000);
    },
  };
}

type World = ReturnType<typeof world>;

const update = (n: number): ConnectionEvent => ({ type: ConnectionEventType.UPDATE, connections: { c1: Connection.fromPartial({ id: "c1", labels: { n: String(n) } }) } });

/** How a feed in each state looks from outside the keeper. */
const looksLike: Record<FeedState, (t: ExecutionContext, w: World) => Promise<void>> = {
  async off(t, w) {
    t.false(w.keeper.running().includes(KEY), "not running here");
    t.is(w.observed(), 0, "no upstream open");
  },
  async acquiring(t, w) {
    t.false(w.keeper.running().includes(KEY), "not running yet");
    t.is(w.gates.acquire?.waiting, 1, "one lease request in flight");
  },
  async running(t, w) {
    t.deepEqual(w.keeper.running(), [KEY]);
    t.is(w.observed(), 1, "one upstream open");
    t.is(await w.holder(), "replica-a", "the lease is ours");
  },
  async ending(t, w) {
    t.false(w.keeper.running().includes(KEY), "no longer running");
    t.is(w.observed(), 0, "the upstream is dropped");
    t.true((w.gates.append?.waiting ?? 0) + (w.gates.remove?.waiting ?? 0) === 1, "one store write of the ending in flight");
  },
};

/** Brings the feed to a state the usual way. */
const reach = {
  async acquiring(w: World) {
    w.gates.acquire = new Gate();
    w.attach();
    await w.settle();
  },
  async running(w: World) {
    await w.keeper.attach(KEY, SPEC);
  },
  async ending(w: World) {
    await reach.running(w);
    w.gates.append = new Gate();
    w.upstreams[0]!.error(new Error("connection reset"));
    await w.settle();
  },
};

/** One more client attaches (not waited for: it may wait for a gate). */
async function anotherClient(w: World): Promise<void> {
  w.attach();
  await w.settle();
}

interface Scenario {
  readonly options?: WorldOptions;
  /** Brings the feed to the row's `from` state. */
  readonly reach?: (w: World) => Promise<void>;
  /** Causes the row's event. */
  readonly cause: (w: World, t: ExecutionContext) => Promise<void>;
  /** The row's effect (and what follows, once the feed is let go on). */
  readonly effect: (t: ExecutionContext, w: World) => Promise<void>;
}

const SCENARIOS: Record<string, Scenario> = {
  "off --wanted--> acquiring": {
    cause: reach.acquiring,
    async effect(t, w) {
      t.is(w.acquireCalls(), 1, "the lease is asked for");
      w.gates.acquire!.open();
      await w.settle();
      t.deepEqual(w.keeper.running(), [KEY], "and the feed runs once it is given");
    },
  },
  "acquiring --wanted--> acquiring": {
    reach: reach.acquiring,
    cause: anotherClient,
    async effect(t, w) {
      t.is(w.acquireCalls(), 1, "the second client waits for the same request");
      w.gates.acquire!.open();
      await Promise.all(w.attaching);
      t.is(w.upstreams.length, 1, "one upstream for both");
      t.deepEqual(w.keeper.running(), [KEY], "both attaches end with the feed running");
    },
  },
  "running --wanted--> running": {
    reach: reach.running,
    cause: async w => w.keeper.attach(KEY, SPEC),
    async effect(t, w) {
      t.is(w.acquireCalls(), 1, "no second lease request");
      t.is(w.upstreams.length, 1, "no second upstream");
    },
  },
  "ending --wanted--> ending": {
    reach: reach.ending,
    cause: anotherClient,
    async effect(t, w) {
      t.is(w.acquireCalls(), 1, "no lease request while the end is being recorded");
      w.gates.append!.open();
      await w.settle();
      t.is(w.state(), "off");
      await w.clock.tickAsync(LEASE_MS / 3);
      await w.settle();
      t.is(w.upstreams.length, 2, "the next round opens the feed again for the client still attached");
      t.deepEqual(w.keeper.running(), [KEY]);
    },
  },
  "acquiring --lease refused--> off": {
    async reach(w) {
      await w.store.replicas.tryAcquire(LEASE, "replica-b", 60_000);
      await reach.acquiring(w);
    },
    async cause(w) {
      w.gates.acquire!.open();
      await Promise.all(w.attaching);
    },
    async effect(t, w) {
      t.is(await w.holder(), "replica-b", "B keeps it");
      t.is(w.upstreams.length, 0, "nothing opened here");
    },
  },
  "acquiring --lease request failed--> off": {
    reach: reach.acquiring,
    async cause(w) {
      w.faults.acquire = true;
      w.gates.acquire!.open();
      await w.settle();
    },
    async effect(t, w) {
      await t.throwsAsync(w.keeper.attach(KEY, SPEC), { message: "store not reachable" }, "the caller gets the error");
      w.faults.acquire = false;
      await w.keeper.tick();
      t.deepEqual(w.keeper.running(), [KEY], "the next round asks again and runs it");
    },
  },
  "acquiring --lease taken--> running": {
    reach: reach.acquiring,
    async cause(w) {
      w.gates.acquire!.open();
      await Promise.all(w.attaching);
    },
    async effect(t, w) {
      t.is(w.upstreams.length, 1, "the upstream is opened");
      w.upstreams[0]!.next(update(1));
      await w.settle();
      t.deepEqual((await w.entries()).map(e => e.type), ["INITIAL_STATE_TRANSFER", "UPDATE"], "its events are recorded");
    },
  },
  "acquiring --lease taken, unused--> off": {
    options: { lingerMs: 30_000, tickMs: 3_600_000 },
    async reach(w) {
      // Registered by a client of some replica long ago, never touched since, run by nobody.
      await w.store.feeds.register(KEY, JSON.stringify(SPEC));
      w.clock.tick(31_000);
      w.gates.acquire = new Gate();
      void w.keeper.tick();
      await w.settle();
    },
    async cause(w) {
      w.gates.acquire!.open();
      await w.keeper.tick();
    },
    async effect(t, w) {
      t.is(await w.holder(), undefined, "the lease is given up");
      t.deepEqual(await w.store.feeds.list(), [], "the store forgot the feed");
      t.is(w.upstreams.length, 0, "never opened");
    },
  },
  "acquiring --lease taken, closing--> off": {
    reach: reach.acquiring,
    async cause(w) {
      await w.keeper.close();
      w.gates.acquire!.open();
      await Promise.all(w.attaching);
    },
    async effect(t, w) {
      t.is(await w.holder(), undefined, "the lease is given up at once");
      t.is(w.upstreams.length, 0, "nothing opened by a closed keeper");
    },
  },
  "running --lease renewed--> running": {
    reach: reach.running,
    async cause(w) {
      await w.clock.tickAsync(LEASE_MS / 3);
    },
    async effect(t, w) {
      await w.clock.tickAsync(5 * LEASE_MS);
      t.is(await w.holder(), "replica-a", "rounds keep renewing the lease long past its length");
      t.false(await w.store.replicas.tryAcquire(LEASE, "replica-b", LEASE_MS), "so no other replica can take it");
      t.deepEqual(w.keeper.running(), [KEY]);
      t.is(w.upstreams.length, 1, "the same upstream all along");
    },
  },
  "running --lease lost--> off": {
    options: { tickMs: 3_600_000 },
    reach: reach.running,
    async cause(w) {
      await w.leaseMovesToB();
      await w.keeper.tick();
    },
    async effect(t, w) {
      t.is(await w.holder(), "replica-b", "B runs it now");
      t.is(w.upstreams.length, 1, "not opened again here");
    },
  },
  "running --fenced out--> off": {
    options: { tickMs: 3_600_000 },
    reach: reach.running,
    async cause(w) {
      await w.leaseMovesToB();
      w.upstreams[0]!.next(update(1));
      await w.settle();
    },
    async effect(t, w) {
      t.deepEqual(await w.entries(), [], "nothing appended behind B's back");
      t.is(await w.holder(), "replica-b");
    },
  },
  "running --append failed--> off": {
    reach: reach.running,
    async cause(w) {
      w.faults.append = true;
      w.upstreams[0]!.next(update(1));
      await w.settle();
    },
    async effect(t, w) {
      t.is(await w.holder(), "replica-a", "the lease is kept");
      w.faults.append = false;
      await w.keeper.tick();
      t.is(w.upstreams.length, 2, "the next round opens the upstream again");
      t.deepEqual(w.keeper.running(), [KEY]);
    },
  },
  "running --upstream lost--> ending": {
    options: { lingerMs: 30_000 },
    reach: reach.running,
    async cause(w) {
      w.gates.append = new Gate();
      w.upstreams[0]!.error(new Error("connection reset"));
      await w.settle();
    },
    async effect(t, w) {
      w.gates.append!.open();
      await w.settle();
      const last = (await w.entries()).at(-1);
      t.is(last?.type, UPSTREAM_LOST, "UPSTREAM_LOST is appended");
      t.regex(String((last?.payload as { reason: string }).reason), /broke: connection reset/);
      t.deepEqual(await w.store.feeds.list(), [], "the feed is forgotten");
      t.is(await w.holder(), undefined, "its lease given up");
    },
  },
  "running --unused--> off": {
    options: { lingerMs: 30_000 },
    async reach(w) {
      await reach.running(w);
      w.keeper.detach(KEY);
    },
    async cause(w, t) {
      await w.clock.tickAsync(29_000);
      t.deepEqual(w.keeper.running(), [KEY], "still running within its linger");
      await w.clock.tickAsync(2_000);
      await w.settle();
    },
    async effect(t, w) {
      t.is(await w.holder(), undefined, "the lease is given up");
      t.deepEqual(await w.store.feeds.list(), [], "the store forgot the feed");
    },
  },
  "running --last client left--> ending": {
    reach: reach.running,
    async cause(w) {
      w.gates.remove = new Gate();
      w.keeper.detach(KEY);
      await w.settle();
    },
    async effect(t, w) {
      w.gates.remove!.open();
      await w.settle();
      t.is(w.state(), "off");
      t.deepEqual(await w.store.feeds.list(), [], "the feed is forgotten");
      t.is(await w.holder(), undefined, "its lease given up");
    },
  },
  "running --keeper closed--> off": {
    reach: reach.running,
    cause: async w => w.keeper.close(),
    async effect(t, w) {
      t.is(await w.holder(), undefined, "the lease is given up at once");
    },
  },
  "ending --ended--> off": {
    reach: reach.ending,
    async cause(w) {
      w.gates.append!.open();
      await w.settle();
    },
    async effect(t, w) {
      t.is((await w.entries()).at(-1)?.type, UPSTREAM_LOST);
      t.deepEqual(await w.store.feeds.list(), []);
      t.is(await w.holder(), undefined);
    },
  },
};

const nameOf = (row: FeedTransition) => `${row.from} --${row.on}--> ${row.to}`;

test("each state and event has at most one row; every state is reached and left", t => {
  t.is(new Set(FEED_TRANSITIONS.map(row => `${row.from}|${row.on}`)).size, FEED_TRANSITIONS.length);
  for (const row of FEED_TRANSITIONS) t.is(transitionFor(row.from, row.on), row);
  const states = Object.keys(looksLike) as FeedState[];
  for (const state of states) {
    t.true(FEED_TRANSITIONS.some(row => row.from === state && row.to !== state), `${state} is left`);
    t.true(state === "off" || FEED_TRANSITIONS.some(row => row.to === state && row.from !== state), `${state} is reached`);
  }
});

test("every scenario below is a row of the table", t => {
  const rows = new Set(FEED_TRANSITIONS.map(nameOf));
  t.deepEqual(Object.keys(SCENARIOS).filter(name => !rows.has(name)), []);
});

for (const row of FEED_TRANSITIONS) {
  test.serial(`${nameOf(row)} (${row.does})`, async t => {
    const scenario = SCENARIOS[nameOf(row)];
    if (!scenario) return t.fail(`no scenario walks the row ${nameOf(row)}`);
    const w = world(scenario.options);
    try {
      await scenario.reach?.(w);
      t.is(w.state(), row.from, "the scenario starts from the row's state");
      await looksLike[row.from](t, w);
      const before = w.taken.length;
      await scenario.cause(w, t);
      t.true(w.taken.slice(before).includes(row), "the keeper took this row");
      t.is(w.state(), row.to);
      await looksLike[row.to](t, w);
      await scenario.effect(t, w);
    } finally {
      for (const gate of Object.values(w.gates)) gate.open();
      await w.keeper.close();
      w.clock.restore();
    }
  });
}
