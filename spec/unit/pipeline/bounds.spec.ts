/** Size bounds on caller input (pipeline/bounds.ts) and the status message cap (transport/grpc/status.ts). */
import test from "ava";
import { DEFAULT_BOUNDS, boundsViolation, checkedBounds } from "../../../lib/pipeline/bounds.js";
import { Code, ProxyError, quoted } from "../../../lib/pipeline/errors.js";
import { MAX_STATUS_MESSAGE, toStatus } from "../../../lib/transport/grpc/status.js";
import { fwdConnection, fwdRequest, seg } from "../connection-v1/_support.js";

test("a real Request keeps every bound", t => {
  t.is(boundsViolation(fwdRequest()), undefined);
});

test("names, URLs, label maps, paths, tokens and lists each have their bound, named by field", t => {
  const long = (n: number) => "x".repeat(n);
  const cases: [unknown, RegExp][] = [
    [fwdConnection({ networkServiceEndpointName: long(DEFAULT_BOUNDS.maxNameLength + 1) }), /^networkServiceEndpointName is 513 characters long; at most 512$/],
    [{ url: long(DEFAULT_BOUNDS.maxUrlLength + 1) }, /^url is 2049 characters/],
    [fwdConnection({ labels: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, "v"])) }), /^labels has 65 entries; at most 64$/],
    [fwdConnection({ labels: { [long(257)]: "v" } }), /^labels has a key of 257 characters/],
    [fwdConnection({ labels: { k: long(1025) } }), /^labels\["k"\] is 1025 characters long/],
    [fwdConnection({ path: { index: 0, pathSegments: Array.from({ length: 33 }, (_, i) => seg(`s${i}`, `${i}`)) } }), /^path.pathSegments has 33 path segments; at most 32$/],
    [fwdConnection({ path: { index: 0, pathSegments: [{ ...seg("a", "1"), token: long(16_385) }] } }), /^path.pathSegments\[0\].token is 16385 characters/],
    [{ networkServiceNames: Array.from({ length: 257 }, () => "ns") }, /^networkServiceNames has 257 items; at most 256$/],
  ];
  for (const [message, expected] of cases) t.regex(boundsViolation(message) ?? "(none)", expected);
});

test("checkedBounds throws INVALID_ARGUMENT with what was checked", t => {
  const error = t.throws(() => checkedBounds({ name: "n".repeat(600) }, "network service"));
  t.is((error as ProxyError).code, Code.INVALID_ARGUMENT);
  t.is(error?.message, "network service: name is 600 characters long; at most 512");
});

test("quoted cuts an echoed value and says how long it was", t => {
  t.is(quoted("short"), '"short"');
  t.is(quoted("y".repeat(1000), 4), '"yyyy"…(1000 characters)');
});

test("a status message is capped at MAX_STATUS_MESSAGE characters", t => {
  const status = toStatus(new ProxyError(Code.NOT_FOUND, "z".repeat(100_000)));
  t.true(status.details.length <= MAX_STATUS_MESSAGE, `${status.details.length}`);
  t.regex(status.details, /message cut\)$/);
  t.is(toStatus(new ProxyError(Code.NOT_FOUND, "small")).details, "small");
});
