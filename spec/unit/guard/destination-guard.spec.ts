/**
 * The destination guard's decisions, without dialling anything: public-looking destinations are only
 * decided here (never dialled in tests); rules, their grammar, the default deny with its mapped and
 * NAT64 forms, own listeners, and the guarded upstream's pinning (one resolution per dial, the pool
 * given the checked IP with the name as authority).
 */
import test from "ava";
import { firstValueFrom, of } from "rxjs";
import { Code, ProxyError } from "../../../lib/pipeline/errors.js";
import { createCallContext } from "../../../lib/pipeline/context.js";
import type { Destination, PinnedUpstream } from "../../../lib/pipeline/upstream.js";
import { silentLogger } from "../../../lib/log.js";
import { createDestinationGuard, trustedDestination } from "../../../lib/guard/destination-guard.js";
import { createGuardedUpstream } from "../../../lib/guard/guarded-upstream.js";
import { parseDialRule, parseDialRules } from "../../../lib/guard/dial-rules.js";
import { HealthService } from "../../../generated/nsm/health.js";

const names: Record<string, string[]> = {
  "public.example": ["203.0.113.10"],
  "api.domain2.example": ["198.51.100.20"],
  "metadata.example": ["169.254.169.254"],
  "half.example": ["198.51.100.21", "127.0.0.1"],
};
const guardWith = (allow = "", deny = "") =>
  createDestinationGuard({
    allow: parseDialRules(allow),
    deny: parseDialRules(deny),
    resolveHost: async name => names[name] ?? Promise.reject(Object.assign(new Error("nx"), { code: "ENOTFOUND" })),
    log: silentLogger,
    localAddresses: () => ["10.9.8.7", "fd00::7"],
  });

async function refusal(promise: Promise<unknown>): Promise<ProxyError> {
  try {
    await promise;
  } catch (error: unknown) {
    return error as ProxyError;
  }
  throw new Error("expected a refusal");
}

test("default rules: public addresses are allowed, special ones refused with the range named", t => {
  const guard = guardWith();
  for (const ip of ["203.0.113.10", "198.51.100.1", "10.0.0.1", "192.168.1.1", "2001:db8::1", "64:ff9b::cb00:710a", "::ffff:203.0.113.10", "2002:cb00:710a::1", "fd00::1"]) t.true(guard.decide(ip, 5001).allowed, ip);
  const cases: [string, RegExp][] = [
    ["127.0.0.1", /loopback 127\.0\.0\.0\/8/],
    ["127.8.9.10", /loopback/],
    ["169.254.169.254", /linkLocal 169\.254\.0\.0\/16/],
    ["0.0.0.0", /unspecified/],
    ["0.1.2.3", /unspecified 0\.0\.0\.0\/8/],
    ["224.0.0.1", /multicast/],
    ["255.255.255.255", /broadcast/],
    ["::1", /loopback ::1/],
    ["::", /unspecified/],
    ["fe80::1", /linkLocal fe80::\/10/],
    ["febf::1", /linkLocal/],
    ["ff02::1", /multicast/],
    ["::ffff:127.0.0.1", /loopback/],
    ["::ffff:169.254.169.254", /linkLocal/],
    ["64:ff9b::a9fe:a9fe", /NAT64 form.*169\.254\.169\.254.*linkLocal/],
    ["64:ff9b::7f00:1", /NAT64 form.*127\.0\.0\.1/],
    ["2002:a9fe:a9fe::1", /6to4 form.*169\.254\.169\.254/],
    ["2002:7f00:1::", /6to4 form.*loopback/],
    ["::7f00:1", /IPv4-compatible form.*127\.0\.0\.1/],
    ["::a9fe:a9fe", /IPv4-compatible form.*linkLocal/],
  ];
  for (const [ip, rule] of cases) {
    const decision = guard.decide(ip, 5001);
    t.false(decision.allowed, ip);
    t.regex(decision.rule, rule, ip);
  }
});

test("check: names are resolved and every address checked; literals are pinned as written canonically", async t => {
  const guard = guardWith();
  const pinned = await guard.check("public.example:5001");
  t.is(pinned.address, "203.0.113.10:5001");
  t.is(pinned.authority, "public.example:5001");
  t.is((await guard.check("[2001:db8::1]:5001")).address, "[2001:db8::1]:5001");
  const half = await refusal(guard.check("half.example:5001"));
  t.is(half.code, Code.PERMISSION_DENIED);
  t.is(half.message, 'dial to "half.example:5001" refused (half.example resolves to 127.0.0.1): rule default deny: loopback 127.0.0.0/8');
  const metadata = await refusal(guard.check("metadata.example:80"));
  t.regex(metadata.message, /metadata\.example:80.*169\.254\.169\.254.*rule default deny: linkLocal/);
  t.is((await refusal(guard.check("nowhere.example:80"))).code as unknown, "ENOTFOUND", "resolver errors pass through as they are");
});

test("check: non-canonical IPv4 and malformed hosts are INVALID_ARGUMENT naming the destination", async t => {
  const guard = guardWith();
  for (const host of ["2852039166", "0xa9fea9fe", "0251.0376.0251.0376", "127.1", "10.1", "1.2.3.04", "0x7f.1", "[fe80::1%eth0]", "bad_host!", "[1.2.3.4]"]) {
    const error = await refusal(guard.check(`${host}:5001`));
    t.is(error.code, Code.INVALID_ARGUMENT, host);
    t.true(error.message.includes(host.replace(/^\[|\]$/g, "")), error.message);
  }
  t.is(guard.refusals().byRule.get("parse"), 10);
});

test("allowlist: the only way out; CIDR rules lift the default deny for what they cover, name rules do not", async t => {
  const guard = guardWith("203.0.113.0/24, *.domain2.example:5001-5010, 127.0.0.1:7000, [fd00::/8]:443");
  t.true(guard.decide("203.0.113.99", 1).allowed);
  t.deepEqual(guard.decide("198.51.100.20", 5001), { allowed: false, rule: "not in the allowlist" });
  t.true(guard.decide("198.51.100.20", 5005, "api.domain2.example").allowed);
  t.false(guard.decide("198.51.100.20", 5011, "api.domain2.example").allowed, "outside the port range");
  t.false(guard.decide("198.51.100.20", 5001, "domain2.example").allowed, "*. matches names under it only");
  t.true(guard.decide("127.0.0.1", 7000).allowed, "loopback allowed explicitly, on that port");
  t.false(guard.decide("127.0.0.1", 7001).allowed);
  t.true(guard.decide("fd00::1", 443).allowed);
  t.true((await guard.check("api.domain2.example:5002")).address === "198.51.100.20:5002");
  const rebound = guardWith("*.example");
  const error = await refusal(rebound.check("metadata.example:80"));
  t.regex(error.message, /rule default deny: linkLocal/, "an allowed name resolving to the metadata address stays refused");
});

test("deny rules come before the allowlist, by name or address", async t => {
  const guard = guardWith("*", "10.0.0.0/8, evil.example, *:25");
  t.deepEqual(guard.decide("10.1.2.3", 80), { allowed: false, rule: 'deny "10.0.0.0/8"' });
  t.false(guard.decide("203.0.113.1", 80, "evil.example").allowed);
  t.false(guard.decide("203.0.113.1", 25).allowed);
  t.true(guard.decide("203.0.113.1", 80).allowed);
  t.false(guard.decide("127.0.0.1", 80).allowed, "* does not lift the default deny");
});

test("own listeners: bound ports on loopback, unspecified or this host's addresses, and the public addresses by name", async t => {
  const guard = guardWith("127.0.0.0/8, ::1, 10.0.0.0/8");
  guard.setOwnListeners([5004, 5006], ["pnsmgr-svc:5006", "203.0.113.5:5004"]);
  for (const [ip, port] of [["127.0.0.1", 5004], ["127.0.0.2", 5006], ["::1", 5004], ["::ffff:127.0.0.1", 5006], ["10.9.8.7", 5004]] as const) {
    t.deepEqual(guard.decide(ip, port), { allowed: false, rule: "own listener" }, `${ip}:${port}`);
  }
  t.true(guard.decide("127.0.0.1", 5005).allowed);
  t.true(guard.decide("10.9.8.6", 5004).allowed, "another host on the same port");
  t.regex((await refusal(guard.check("PNSMGR-SVC:5006"))).message, /own listener/);
  t.regex((await refusal(guard.check("[::ffff:203.0.113.5]:5004"))).message, /own listener/);
  t.is(guard.refusals().byRule.get("own listener"), 2);
});

test("an allowed IP-literal destination is remembered per spelling; a new set of own listeners forgets it, refusals are never remembered", async t => {
  const guard = guardWith("127.0.0.0/8");
  const first = await guard.check("127.0.0.1:5004");
  t.deepEqual(first, { address: "127.0.0.1:5004", authority: "127.0.0.1:5004" });
  t.is(await guard.check("127.0.0.1:5004"), first, "the second call to the same peer reuses the first decision");
  guard.setOwnListeners([5004], []);
  t.regex((await refusal(guard.check("127.0.0.1:5004"))).message, /own listener/, "remembered before, refused now");
  t.regex((await refusal(guard.check("127.0.0.1:5004"))).message, /own listener/);
  t.is(guard.refusals().byRule.get("own listener"), 2, "every refusal is counted");
});

test("refusals are logged once per rule per window, with the number left out, and counted", async t => {
  const lines: string[] = [];
  let at = 0;
  const guard = createDestinationGuard({
    resolveHost: async () => [],
    log: { ...silentLogger, warn: (msg, fields) => lines.push(`${msg} ${JSON.stringify(fields)}`) },
    logWindowMs: 1000,
    now: () => at,
  });
  for (let i = 0; i < 5; i++) await refusal(guard.check(`169.254.169.${i}:80`));
  at = 1500;
  await refusal(guard.check("169.254.169.254:80"));
  await refusal(guard.check("127.1:80"));
  t.is(lines.length, 3);
  t.regex(lines[0] ?? "", /dial refused .*169\.254\.169\.0:80.*linkLocal/);
  t.regex(lines[1] ?? "", /"suppressed":4/);
  t.regex(lines[2] ?? "", /"rule":"parse"/);
  t.is(guard.refusals().total, 7);
});

test("rule grammar: bad entries are errors naming the entry", t => {
  for (const bad of ["10.0.0.0/33", "10.1/8", "0x0a000000/8", "*.", "example.com:0", "example.com:70000", "[::1]:5-3", "a b", "*.10.0.0.1"]) {
    t.throws(() => parseDialRule(bad), undefined, bad);
  }
  t.is(parseDialRules(" 10.0.0.0/8 ,, ::1 ").length, 2);
  t.true(parseDialRule("fd00::/8").cidr);
  t.false(parseDialRule("*.example.com").cidr);
});

test("trusted addresses are parsed strictly but not checked against the rules", t => {
  t.is(trustedDestination("127.0.0.1:5002").address, "127.0.0.1:5002");
  t.is(trustedDestination("registry.nsm-system:5002").authority, "registry.nsm-system:5002");
  t.is(trustedDestination("unix:///run/pnsmgr/admin.sock").address, "unix:///run/pnsmgr/admin.sock");
  t.throws(() => trustedDestination("127.1:5002"));
});

test("guarded upstream: one resolution per dial, the pool gets the pinned IP with the name as authority; trusted addresses skip the guard", async t => {
  const answers = [["127.0.0.2"], ["127.0.0.1"]];
  const asked: string[] = [];
  const guard = createDestinationGuard({
    allow: parseDialRules("127.0.0.2, rebind.example"),
    resolveHost: async name => {
      asked.push(name);
      return answers.shift() ?? [];
    },
    log: silentLogger,
  });
  const dialled: Destination[] = [];
  const pool: PinnedUpstream = {
    unary: <Req, Res>(destination: Destination) => {
      dialled.push(destination);
      return of({ status: 1 } as Res);
    },
    serverStream: () => of(),
    bidiStream: () => of(),
    close() {},
  };
  const upstream = createGuardedUpstream(pool, guard, ["127.0.0.1:5002", undefined]);
  const ctx = createCallContext({ method: HealthService.check.path });
  await firstValueFrom(upstream.unary("rebind.example:5001", HealthService.check, { service: "" }, ctx));
  t.deepEqual(dialled.map(d => [d.address, d.authority]), [["127.0.0.2:5001", "rebind.example:5001"]]);
  const error = await refusal(firstValueFrom(upstream.unary("rebind.example:5001", HealthService.check, { service: "" }, ctx)));
  t.is(error.code, Code.PERMISSION_DENIED);
  t.is(dialled.length, 1, "the rebound answer was not dialled");
  t.deepEqual(asked, ["rebind.example", "rebind.example"]);
  await firstValueFrom(upstream.unary("127.0.0.1:5002", HealthService.check, { service: "" }, ctx));
  t.is(dialled[1]?.address, "127.0.0.1:5002", "the configured registry is trusted");
});
