import test from "ava";
import { Code, ProxyError } from "../../../lib/pipeline/errors.js";
import { parseNsmUrl, splitInterdomain, targetOf } from "../../../lib/domains/names.js";
import { bindAddress, formatHostPort, parseHostPort, withHost } from "../../../lib/domains/address.js";
import { createDomainResolver } from "../../../lib/domains/resolve.js";

const invalid = (t: import("ava").ExecutionContext, fn: () => unknown, message: RegExp) => {
  const error = t.throws(fn, { instanceOf: ProxyError });
  t.is(error?.code, Code.INVALID_ARGUMENT);
  t.regex(error?.message ?? "", message);
};

test("names split at the first @", t => {
  t.deepEqual(splitInterdomain("svc@a@b"), { target: "svc", domain: "a@b" });
  t.is(targetOf("svc@d"), "svc");
  t.is(targetOf("svc"), "svc");
  invalid(t, () => splitInterdomain("svc"), /has no "@"/);
  invalid(t, () => splitInterdomain("@d"), /nothing before/);
  invalid(t, () => splitInterdomain("svc@"), /nothing after/);
});

test("NSMgr URLs: v4, v6 in brackets, names", t => {
  t.like(parseNsmUrl("nsmgr@10.0.0.1:5001"), { name: "nsmgr", host: "10.0.0.1", port: 5001, address: "10.0.0.1:5001" });
  t.like(parseNsmUrl("nsmgr@[::1]:5001"), { name: "nsmgr", host: "::1", port: 5001, address: "[::1]:5001" });
  t.like(parseNsmUrl("n@host.example:80"), { host: "host.example", port: 80 });
  invalid(t, () => parseNsmUrl("n@::1:5001"), /brackets/);
  invalid(t, () => parseNsmUrl("n@::1"), /brackets/);
  invalid(t, () => parseNsmUrl("n@10.0.0.1"), /not host:port/);
  invalid(t, () => parseNsmUrl("n@:5001"), /no host/);
  invalid(t, () => parseNsmUrl("n@h:0"), /1-65535/);
  invalid(t, () => parseNsmUrl("n@[10.0.0.1]:5"), /only an IPv6/);
});

test("addresses format and bind", t => {
  t.is(formatHostPort("::1", 5), "[::1]:5");
  t.is(formatHostPort("10.0.0.1", 5), "10.0.0.1:5");
  t.is(withHost("10.0.0.1:5001", "2001:db8::1"), "[2001:db8::1]:5001");
  t.is(bindAddress(":5006"), "0.0.0.0:5006");
  t.deepEqual(parseHostPort(":5005"), { host: "", port: 5005 });
});

test("domain resolution: literals as they are, names looked up once, failures coded", async t => {
  const asked: string[] = [];
  const resolver = createDomainResolver(async name => {
    asked.push(name);
    if (name === "known.example") return "192.0.2.10";
    if (name === "flaky.example") throw Object.assign(new Error("timeout"), { code: "EAI_AGAIN" });
    throw Object.assign(new Error("nope"), { code: "ENOTFOUND" });
  });
  t.is(await resolver.resolve("10.0.0.1", 80), "10.0.0.1:80");
  t.is(await resolver.resolve("[::1]:5005", 80), "[::1]:5005");
  t.is(await resolver.resolve("10.0.0.1:5005", 80), "10.0.0.1:5005");
  t.is(await resolver.resolve("known.example", 80), "192.0.2.10:80");
  t.deepEqual(asked, ["known.example"]);
  const missing = await t.throwsAsync(resolver.resolve("missing.example", 80), { instanceOf: ProxyError });
  t.is(missing?.code, Code.NOT_FOUND);
  t.regex(missing?.message ?? "", /missing\.example/);
  const flaky = await t.throwsAsync(resolver.resolve("flaky.example", 80), { instanceOf: ProxyError });
  t.is(flaky?.code, Code.UNAVAILABLE);
  const bad = await t.throwsAsync(resolver.resolve("bad name!", 80), { instanceOf: ProxyError });
  t.is(bad?.code, Code.INVALID_ARGUMENT);
});
