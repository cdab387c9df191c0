/**
 * `pnsmgr events` flags: every flag and its value forms, the source chosen from flags and the
 * environment, and one line naming the flag for every bad one (exit code 2).
 */
import test from "ava";
import { CliError, DEFAULT_GATEWAY, parseEventsArgs, parseTime } from "../../../lib/cli/events-args.js";

const NOW = Date.parse("2024-05-01T12:00:00Z");
const parse = (args: string[], env: Record<string, string> = {}) => parseEventsArgs(args, env, NOW);
const options = (args: string[], env: Record<string, string> = {}) => {
  const command = parse(args, env);
  if (command.help) throw new Error("help");
  return command.options;
};

function rejects(t: import("ava").ExecutionContext, args: string[], flag: RegExp, env: Record<string, string> = {}) {
  const error = t.throws(() => parse(args, env), { instanceOf: CliError }, args.join(" "));
  t.is(error?.exitCode, 2);
  t.regex(error?.message ?? "", flag);
  t.false((error?.message ?? "").includes("\n"), "one line");
}

test("no flags: everything, readable, from the local gateway's admin listener (PNSMGR_ADMIN_LISTEN_ON when set)", t => {
  t.is(DEFAULT_GATEWAY, "127.0.0.1:5007");
  t.deepEqual(options([]), { request: {}, json: false, source: { kind: "gateway", address: DEFAULT_GATEWAY } });
  t.deepEqual(options([], { PNSMGR_ADMIN_LISTEN_ON: "127.0.0.1:6007" }).source, { kind: "gateway", address: "127.0.0.1:6007" });
  t.deepEqual(options([], { PNSMGR_ADMIN_LISTEN_ON: ":6007" }).source, { kind: "gateway", address: "127.0.0.1:6007" });
  t.deepEqual(options([], { PNSMGR_ADMIN_LISTEN_ON: "unix:///run/pnsmgr/admin.sock" }).source, { kind: "gateway", address: "unix:///run/pnsmgr/admin.sock" });
  t.deepEqual(options(["--gateway", "unix:///tmp/a.sock"]).source, { kind: "gateway", address: "unix:///tmp/a.sock" });
});

test("every filter flag, in both --flag value and --flag=value forms", t => {
  const o = options(["--connection", "c-1", "--peer=10.0.0.2:5001", "--from", "2024-05-01T10:00:00Z", "--to=2024-05-01T11:00:00.250+01:00", "--after", "1714557600000-3", "--limit", "20", "--json"]);
  t.deepEqual(o.request, {
    connectionId: "c-1",
    peer: "10.0.0.2:5001",
    from: Date.parse("2024-05-01T10:00:00Z"),
    to: Date.parse("2024-05-01T10:00:00.250Z"),
    after: "1714557600000-3",
    limit: 20,
  });
  t.true(o.json);
});

test("--follow, with a start or without", t => {
  t.deepEqual(options(["--follow"]).request, { follow: true });
  t.deepEqual(options(["--follow", "--from", "10m"]).request, { follow: true, from: NOW - 600_000 });
});

test("times: RFC3339 with a zone, a duration ago, now", t => {
  t.is(parseTime("from", "2024-05-01T10:00:00Z", NOW), Date.parse("2024-05-01T10:00:00Z"));
  t.is(parseTime("from", "2024-05-01T10:00:00.5+02:00", NOW), Date.parse("2024-05-01T08:00:00.500Z"));
  t.is(parseTime("from", "2024-05-01 10:00:00Z", NOW), Date.parse("2024-05-01T10:00:00Z"));
  t.is(parseTime("from", "10m", NOW), NOW - 600_000);
  t.is(parseTime("from", "-10m", NOW), NOW - 600_000);
  t.is(parseTime("from", "1h30m", NOW), NOW - 5_400_000);
  t.is(parseTime("from", "2d", NOW), NOW - 2 * 86_400_000);
  t.is(parseTime("from", "500ms", NOW), NOW - 500);
  t.is(parseTime("from", "now", NOW), NOW);
  t.is(parseTime("from", "100000d", NOW), 0, "never before the epoch");
  for (const bad of ["yesterday", "2024-05-01", "2024-05-01T10:00:00", "10", "10x", "m", "2024-13-01T10:00:00Z"]) {
    t.throws(() => parseTime("from", bad, NOW), { instanceOf: CliError, message: /^--from /u }, bad);
  }
});

test("sources: --gateway, --redis, REDIS_URL and sentinels from the environment", t => {
  t.deepEqual(options(["--gateway", "tcp://10.1.2.3:5004"]).source, { kind: "gateway", address: "10.1.2.3:5004" });
  t.deepEqual(options(["--gateway", "[::1]:5006"]).source, { kind: "gateway", address: "[::1]:5006" });
  const redis = options(["--redis", "redis://127.0.0.1:6390/2"], { PNSMGR_REDIS_PREFIX: "x:", PNSMGR_REDIS_SENTINELS: "127.0.0.1:1" }).source;
  t.is(redis.kind, "redis");
  if (redis.kind === "redis") {
    t.is(redis.options.url, "redis://127.0.0.1:6390/2");
    t.is(redis.options.prefix, "x:", "the prefix from the environment applies");
    t.is(redis.options.sentinels, undefined, "--redis wins over sentinels in the environment");
  }
  const env = options([], { REDIS_URL: "redis://127.0.0.1:6391" }).source;
  t.true(env.kind === "redis" && env.options.url === "redis://127.0.0.1:6391");
  const sentinels = options([], { PNSMGR_REDIS_SENTINELS: "127.0.0.1:26379,127.0.0.1:26380" }).source;
  t.true(sentinels.kind === "redis" && sentinels.options.sentinels?.length === 2);
  t.deepEqual(options(["--gateway", "127.0.0.1:5006"], { REDIS_URL: "redis://127.0.0.1:6391" }).source, { kind: "gateway", address: "127.0.0.1:5006" });
});

test("help", t => {
  t.deepEqual(parse(["--help"]), { help: true });
  t.deepEqual(parse(["--connection", "c-1", "-h"]), { help: true });
});

test("bad flags: one line naming the flag, exit code 2", t => {
  rejects(t, ["--bogus"], /--bogus/);
  rejects(t, ["stray"], /"stray"/);
  rejects(t, ["--connection"], /--connection needs a value/);
  rejects(t, ["--connection", "--follow"], /--connection needs a value/);
  rejects(t, ["--connection="], /--connection needs a value/);
  rejects(t, ["--peer", "a", "--peer", "b"], /--peer is given more than once/);
  rejects(t, ["--follow=yes"], /--follow takes no value/);
  rejects(t, ["--from", "yesterday"], /--from "yesterday"/);
  rejects(t, ["--to", "13:00"], /--to "13:00"/);
  rejects(t, ["--from", "1m", "--to", "2m"], /--from is later than --to/);
  rejects(t, ["--follow", "--to", "1m"], /--to cannot be combined with --follow/);
  rejects(t, ["--after", "yesterday"], /--after "yesterday"/);
  rejects(t, ["--limit", "0"], /--limit "0"/);
  rejects(t, ["--limit", "1.5"], /--limit "1.5"/);
  rejects(t, ["--limit", "-3"], /--limit needs a value|--limit "-3"/);
  rejects(t, ["--gateway", "localhost"], /--gateway "localhost"/);
  rejects(t, ["--gateway", ":5006"], /--gateway ":5006"/);
  rejects(t, ["--redis", "http://127.0.0.1:6379"], /--redis "http:/);
  rejects(t, ["--redis", "redis://:secret@127.0.0.1:6379/x"], /--redis: .*database number/);
  rejects(t, ["--redis", "redis://127.0.0.1:6379", "--gateway", "127.0.0.1:5006"], /--redis and --gateway/);
  rejects(t, [], /^REDIS_URL="nope"/, { REDIS_URL: "nope" });
  rejects(t, [], /PNSMGR_REDIS_SENTINELS/, { PNSMGR_REDIS_SENTINELS: "nohost" });
});

test("a password in a bad --redis URL is not echoed", t => {
  const error = t.throws(() => parse(["--redis", "http://user:hunter2@127.0.0.1:6379"]), { instanceOf: CliError });
  t.false(error?.message.includes("hunter2"));
});

test("--timeline and --svg: one connection, not followed; --svg takes a file and keeps --json; --timeline draws instead of --json", t => {
  t.like(options(["--connection", "c1", "--timeline"]), { timeline: true, json: false, request: { connectionId: "c1" } });
  t.like(options(["--connection", "c1", "--svg", "life.svg", "--json", "--from", "10m"]), { svg: "life.svg", json: true, request: { connectionId: "c1", from: NOW - 600_000 } });
  t.false("timeline" in options(["--connection", "c1"]) || "svg" in options(["--connection", "c1"]));
  rejects(t, ["--timeline"], /--timeline draws one connection: give --connection ID/);
  rejects(t, ["--svg", "x.svg"], /--svg draws one connection/);
  rejects(t, ["--connection", "c1", "--svg"], /--svg needs a value/);
  rejects(t, ["--connection", "c1", "--timeline", "--follow"], /--timeline cannot be combined with --follow/);
  rejects(t, ["--connection", "c1", "--timeline", "--json"], /--timeline cannot be combined with --json/);
  rejects(t, ["--connection", "c1", "--timeline=yes"], /--timeline takes no value/);
});
