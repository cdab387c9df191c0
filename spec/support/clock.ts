/**
 * Sinon's fake clock for unit tests of anything that waits (not a test file): timers and Date are
 * fake, so a test says "500 ms pass" and sees what a timer did, deterministically and at once.
 * setImmediate, process.nextTick and promises stay real, so pending callbacks still run between ticks.
 *
 * Real work (WebCrypto signing a token, I/O) does not wait for fake time, and fake time does not wait
 * for it: before moving the clock past a point, wait for the real work due before it with
 * untilWithoutTime (e.g. the call that reached the next hop), else a later timer (a deadline) may fire first.
 *
 * The clock is global to the worker: a test that installs one must be `test.serial` (ava runs serial
 * tests of a file before the concurrent ones, so they never overlap), and the clock is restored at the
 * test's end by t.teardown.
 */
import sinon from "sinon";

export type FakeClock = sinon.SinonFakeTimers & {
  /**
   * Runs the timers due, one after another, until `condition` holds; fails after `limitMs` of fake
   * time. Returns the fake ms that passed. Use it where only timers stand between now and the
   * condition (real work such as crypto could be overtaken by a later timer: see untilWithoutTime).
   */
  until(condition: () => boolean, limitMs: number, what: string): Promise<number>;
  /**
   * Waits on real time (at most `realLimitMs`) until `condition` holds, with the clock standing still:
   * only timers due now run (a delay of 0). For what follows a timer through real work (a token signed).
   */
  untilWithoutTime(condition: () => boolean, what: string, realLimitMs?: number): Promise<void>;
  /** `promise`'s outcome, once it settles without fake time passing (as untilWithoutTime). */
  outcome<T>(promise: Promise<T>, realLimitMs?: number): Promise<T>;
  /** Lets pending promise and I/O callbacks run without moving the clock. */
  settle(): Promise<void>;
};

export interface FakeClockOptions {
  /** The fake epoch ms to start at; default the real now (so values computed at module load stay valid). */
  readonly now?: number;
}

// Captured before any test installs a fake clock: settling waits on the real event loop.
const realSetTimeout = globalThis.setTimeout;
/** A few real turns of the event loop: promise chains, I/O callbacks and thread-pool work (WebCrypto) finish. */
async function settle(): Promise<void> {
  for (let turn = 0; turn < 3; turn++) await new Promise<void>(resolve => realSetTimeout(() => setImmediate(resolve), 1));
}

export function fakeClock(t: { teardown(fn: () => void): void }, options: FakeClockOptions = {}): FakeClock {
  const clock = sinon.useFakeTimers({ now: options.now ?? Date.now(), toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "Date"] });
  t.teardown(() => clock.restore());
  const untilWithoutTime = async (condition: () => boolean, what: string, realLimitMs = 10_000): Promise<void> => {
    const realStart = performance.now();
    while (!condition()) {
      if (performance.now() - realStart > realLimitMs) throw new Error(`${what}: not so within ${realLimitMs} real ms with the clock standing still`);
      await clock.tickAsync(0);
      await settle();
    }
  };
  const until = async (condition: () => boolean, limitMs: number, what: string): Promise<number> => {
    const start = clock.now;
    await settle();
    while (!condition()) {
      if (clock.countTimers() === 0) {
        // Nothing scheduled: whatever comes next comes from real work still on its way.
        await untilWithoutTime(condition, `${what} (no timer left after ${clock.now - start} fake ms)`);
        break;
      }
      if (clock.now - start >= limitMs) throw new Error(`${what}: not so within ${limitMs} fake ms`);
      await clock.nextAsync();
      await settle();
    }
    return clock.now - start;
  };
  const outcome = async <T>(promise: Promise<T>, realLimitMs = 10_000): Promise<T> => {
    let settled = false;
    const watched = promise.finally(() => (settled = true));
    watched.catch(() => undefined); // the caller sees the rejection through the returned promise
    await untilWithoutTime(() => settled, "the promise to settle", realLimitMs);
    return watched;
  };
  return Object.assign(clock, { until, untilWithoutTime, outcome, settle });
}
