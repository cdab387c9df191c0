/**
 * State options from the environment: memory unless REDIS_URL or PNSMGR_REDIS_SENTINELS is set; a bad
 * value throws a ConfigError naming the variable (and never printing a password).
 */
import test from "ava";
import { ConfigError } from "../../../lib/config.js";
import { createStateStore, stateOptionsFromEnv } from "../../../lib/state/state.js";

test("no Redis settings: the in-memory store with the default event bounds", t => {
  t.deepEqual(stateOptionsFromEnv({}), { kind: "memory", events: { maxLen: 100_000, maxAgeMs: 86_400_000, trim: "approximate" } });
  t.deepEqual(stateOptionsFromEnv({ REDIS_URL: "", PNSMGR_REDIS_SENTINELS: " " }).kind, "memory");
});

test("REDIS_URL: Redis with the defaults, no WAIT", t => {
  t.deepEqual(stateOptionsFromEnv({ REDIS_URL: "redis://:secret@redis.nsm-system:6379/2" }), {
    kind: "redis",
    url: "redis://:secret@redis.nsm-system:6379/2",
    masterName: "mymaster",
    prefix: "pnsmgr:",
    events: { maxLen: 100_000, maxAgeMs: 86_400_000, trim: "approximate" },
    waitReplicas: 0,
    waitTimeoutMs: 1000,
  });
});

test("Sentinels: Redis via Sentinel, WAIT 1 by default; every setting read", t => {
  t.like(
    stateOptionsFromEnv({
      PNSMGR_REDIS_SENTINELS: "sentinel-0:26379, 10.0.0.5:26379,[fd00::1]:26379",
      PNSMGR_REDIS_MASTER_NAME: "pnsmgr",
      PNSMGR_REDIS_PREFIX: "edge-a:",
      PNSMGR_EVENTS_MAX_LEN: "5000",
      PNSMGR_EVENTS_MAX_AGE: "1h30m",
      PNSMGR_REDIS_WAIT_TIMEOUT: "250ms",
    }),
    {
      kind: "redis",
      sentinels: [
        { host: "sentinel-0", port: 26379 },
        { host: "10.0.0.5", port: 26379 },
        { host: "fd00::1", port: 26379 },
      ],
      masterName: "pnsmgr",
      prefix: "edge-a:",
      events: { maxLen: 5000, maxAgeMs: 5_400_000 },
      waitReplicas: 1,
      waitTimeoutMs: 250,
    },
  );
  t.like(stateOptionsFromEnv({ PNSMGR_REDIS_SENTINELS: "s:26379", PNSMGR_REDIS_WAIT_REPLICAS: "0", PNSMGR_EVENTS_MAX_AGE: "60000" }), {
    waitReplicas: 0,
    events: { maxAgeMs: 60_000 },
  });
});

test("event bounds apply to the in-memory store too", t => {
  t.like(stateOptionsFromEnv({ PNSMGR_EVENTS_MAX_LEN: "10", PNSMGR_EVENTS_MAX_AGE: "45s" }), { kind: "memory", events: { maxLen: 10, maxAgeMs: 45_000 } });
});

test("bad values name their variable", t => {
  const cases: [Record<string, string>, string][] = [
    [{ REDIS_URL: "localhost:6379" }, "REDIS_URL"],
    [{ REDIS_URL: "http://redis:6379" }, "REDIS_URL"],
    [{ REDIS_URL: "redis://redis:6379/zero" }, "REDIS_URL"],
    [{ PNSMGR_REDIS_SENTINELS: "sentinel-0" }, "PNSMGR_REDIS_SENTINELS"],
    [{ PNSMGR_REDIS_SENTINELS: "a:1,,b:2" }, "PNSMGR_REDIS_SENTINELS"],
    [{ PNSMGR_REDIS_SENTINELS: ":26379" }, "PNSMGR_REDIS_SENTINELS"],
    [{ REDIS_URL: "redis://r:6379", PNSMGR_REDIS_SENTINELS: "s:26379" }, "PNSMGR_REDIS_SENTINELS"],
    [{ REDIS_URL: "redis://r:6379", PNSMGR_REDIS_PREFIX: "a b" }, "PNSMGR_REDIS_PREFIX"],
    [{ REDIS_URL: "redis://r:6379", PNSMGR_REDIS_WAIT_REPLICAS: "yes" }, "PNSMGR_REDIS_WAIT_REPLICAS"],
    [{ REDIS_URL: "redis://r:6379", PNSMGR_REDIS_WAIT_TIMEOUT: "soon" }, "PNSMGR_REDIS_WAIT_TIMEOUT"],
    [{ PNSMGR_EVENTS_MAX_LEN: "0" }, "PNSMGR_EVENTS_MAX_LEN"],
    [{ PNSMGR_EVENTS_MAX_LEN: "1e5" }, "PNSMGR_EVENTS_MAX_LEN"],
    [{ PNSMGR_EVENTS_MAX_AGE: "1d" }, "PNSMGR_EVENTS_MAX_AGE"],
    [{ PNSMGR_EVENTS_MAX_AGE: "0" }, "PNSMGR_EVENTS_MAX_AGE"],
  ];
  for (const [env, variable] of cases) {
    const error = t.throws(() => stateOptionsFromEnv(env), { instanceOf: ConfigError }, JSON.stringify(env));
    t.is(error?.env, variable, JSON.stringify(env));
    t.true(error?.message.startsWith(`${variable}=`), error?.message);
  }
});

test("a bad REDIS_URL is reported without its password", t => {
  const error = t.throws(() => stateOptionsFromEnv({ REDIS_URL: "http://user:hunter2@redis:6379" }), { instanceOf: ConfigError });
  t.false(error?.message.includes("hunter2"), error?.message);
});

test("createStateStore gives the in-memory store without loading ioredis", async t => {
  const store = await createStateStore(stateOptionsFromEnv({}));
  t.is(store.description, "memory");
  await store.connections.put({ id: "c", nextHop: "h:1", networkService: "s@d", remoteNsm: "nsmgr@h:1", updatedAt: 1 });
  t.like(await store.connections.get("c"), { id: "c" });
  await store.close();
  t.false(Object.keys(await import("node:module").then(m => m.createRequire(import.meta.url).cache)).some(path => path.includes("/ioredis/")));
});
