/** lib/config-report.ts and the operating options of lib/config.ts: unknown variables, redaction, NSM_LISTEN_ON lists. */
import test from "ava";
import { ConfigError, loadConfig } from "../../../lib/config.js";
import { knownVariables, redact, redactUserinfo, unknownVariables } from "../../../lib/config-report.js";
import { freeSocketPath, parseListenOn } from "../../../lib/listen-on.js";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

test("unknown NSM_, PNSMGR_ and PROXY_NSMD_ variables are named; known ones, state ones and other prefixes are not", t => {
  const env = {
    PNSMGR_BOGUS_SETTING: "1",
    NSM_LOG_LEVL: "DEBUG",
    PROXY_NSMD_API_ADRESS: ":5006",
    NSM_LOG_LEVEL: "DEBUG",
    PNSMGR_METRICS_LISTEN_ON: ":9090",
    PNSMGR_REDIS_PREFIX: "x:",
    TELEMETRY: "true",
    HOME: "/root",
    NSMRS_ADDRESS: "nsmrs:80",
  };
  t.deepEqual(unknownVariables(env), ["NSM_LOG_LEVL", "PNSMGR_BOGUS_SETTING", "PROXY_NSMD_API_ADRESS"]);
  const known = knownVariables();
  for (const name of ["NSM_LISTEN_ON", "NSM_PPROF_ENABLED", "NSM_OPEN_TELEMETRY_ENDPOINT", "PNSMGR_EVENTS_MAX_LEN", "REDIS_URL"]) t.true(known.has(name), name);
});

test("redaction: secret-named fields and URL passwords are hidden, the rest is kept", t => {
  const config = {
    name: "proxy-1",
    maxTokenLifetimeMs: 600_000,
    state: { kind: "redis", url: "redis://default:s3cret@redis:6379/0", masterName: "mymaster" },
    redisPassword: "hunter2",
    sentinelPassword: undefined,
    tls: { clientSecret: "abc", caFile: "/etc/ca.pem" },
    apiToken: "t0k",
    list: ["rediss://:pw@h:1", "plain"],
  };
  t.deepEqual(redact(config), {
    name: "proxy-1",
    maxTokenLifetimeMs: 600_000,
    state: { kind: "redis", url: "redis://default:***@redis:6379/0", masterName: "mymaster" },
    redisPassword: "***",
    sentinelPassword: undefined,
    tls: { clientSecret: "***", caFile: "/etc/ca.pem" },
    apiToken: "***",
    list: ["rediss://:***@h:1", "plain"],
  });
  t.is(redactUserinfo("redis://onlytoken@h:1"), "redis://***@h:1");
  t.is(redactUserinfo("tcp://h:1"), "tcp://h:1");
});

test("the effective configuration of a Redis set-up logs no password", t => {
  const config = loadConfig({ REDIS_URL: "redis://app:pa55word@10.0.0.9:6379" });
  t.notRegex(JSON.stringify(redact(config)), /pa55word/);
  t.regex(JSON.stringify(redact(config)), /redis:\/\/app:\*\*\*@10\.0\.0\.9:6379/);
});

test("NSM_LISTEN_ON: a comma list of tcp:// and unix:// URLs; the first TCP one is the main address", t => {
  t.deepEqual(parseListenOn("tcp://:5004", "NSM_LISTEN_ON"), { main: ":5004", extra: [] });
  t.deepEqual(parseListenOn("unix:///run/nsm/proxy.sock, tcp://0.0.0.0:5004,127.0.0.1:6004", "NSM_LISTEN_ON"), {
    main: "0.0.0.0:5004",
    extra: ["unix:///run/nsm/proxy.sock", "127.0.0.1:6004"],
  });
  const config = loadConfig({ NSM_LISTEN_ON: "tcp://127.0.0.1:5004,unix:///tmp/p.sock" });
  t.is(config.v1ListenAddress, "127.0.0.1:5004");
  t.deepEqual(config.v1ExtraListenAddresses, ["unix:///tmp/p.sock"]);
  t.deepEqual(loadConfig({}).v1ExtraListenAddresses, []);
  for (const [value, reason] of [
    ["unix:///only.sock", /needs at least one tcp:\/\/ address/],
    ["unix://relative.sock,tcp://:5004", /absolute path/],
    ["http://h:80", /only tcp:\/\/ and unix:\/\//],
    ["tcp://:5004,tcp://nope", /not host:port/],
    [" , ", /names no address/],
  ] as const) {
    const error = t.throws(() => loadConfig({ NSM_LISTEN_ON: value }), { instanceOf: ConfigError });
    t.regex(error?.message ?? "", reason, value);
  }
});

test("operating options: NSM's names and defaults, checked", t => {
  const defaults = loadConfig({});
  t.like(defaults, {
    logLevel: "info",
    logFormat: "text",
    metricsListenAddress: undefined,
    telemetry: false,
    openTelemetryEndpoint: "otel-collector.observability.svc.cluster.local:4317",
    metricsExportIntervalMs: 10_000,
    profilingEnabled: false,
    profilingListenAddress: "localhost:6060",
    stateStartupTimeoutMs: 0,
  });
  const set = loadConfig({
    NSM_LOG_LEVEL: "TRACE",
    PNSMGR_LOG_FORMAT: "json",
    PNSMGR_METRICS_LISTEN_ON: "tcp://127.0.0.1:9090",
    TELEMETRY: "opentelemetry",
    NSM_METRICS_EXPORT_INTERVAL: "30s",
    NSM_PPROF_ENABLED: "true",
    PNSMGR_STATE_STARTUP_TIMEOUT: "2m",
  });
  t.like(set, { logLevel: "trace", logFormat: "json", metricsListenAddress: "127.0.0.1:9090", telemetry: true, metricsExportIntervalMs: 30_000, profilingEnabled: true, stateStartupTimeoutMs: 120_000 });
  for (const [name, value] of [["NSM_LOG_LEVEL", "LOUD"], ["PNSMGR_LOG_FORMAT", "xml"], ["TELEMETRY", "yes please"], ["NSM_OPEN_TELEMETRY_ENDPOINT", ":4317"]] as const) {
    const error = t.throws(() => loadConfig({ [name]: value }), { instanceOf: ConfigError });
    t.true(error?.message.startsWith(`${name}=`), error?.message);
  }
});

test("a socket file left at a unix:// listen path is removed before binding; any other file is left alone", async t => {
  const dir = mkdtempSync(join(tmpdir(), "pnsmgr-sock-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const socket = join(dir, "left.sock");
  const server = createServer();
  await new Promise<void>(resolve => server.listen(socket, resolve));
  t.true(existsSync(socket));
  t.is(await freeSocketPath(`unix://${socket}`), `unix://${socket}`);
  t.false(existsSync(socket), "the socket file is gone");
  server.close();
  const plain = join(dir, "not-a-socket");
  writeFileSync(plain, "data");
  await freeSocketPath(`unix://${plain}`);
  t.true(existsSync(plain), "a regular file is not removed");
  t.is(await freeSocketPath(`unix://${join(dir, "absent.sock")}`), `unix://${join(dir, "absent.sock")}`, "nothing there: nothing to do");
});
