/** The v1 connection check: bounds, our own segment only at index+1 and with an id, else a loop. */
import test from "ava";
import { Code } from "../../../lib/pipeline/errors.js";
import { checkOwnSegment } from "../../../lib/planes/connection/v1/check-request.js";
import { fwdConnection, seg } from "./_support.js";

const base = fwdConnection(); // nsc, nsmgr-1, fwd-1 at index 2

test("our name at index+1 with an id is a refresh, and no name of ours is a new call", t => {
  t.notThrows(() => checkOwnSegment(base, "proxy-1"));
  t.notThrows(() => checkOwnSegment({ ...base, path: { index: 2, pathSegments: [...base.path!.pathSegments, seg("proxy-1", "p1")] } }, "proxy-1"));
});

test("our name at index+1 with an empty id is INVALID_ARGUMENT (was INTERNAL from begin)", t => {
  const error = t.throws(() => checkOwnSegment({ ...base, path: { index: 2, pathSegments: [...base.path!.pathSegments, seg("proxy-1", "")] } }, "proxy-1"));
  t.is((error as { code?: Code }).code, Code.INVALID_ARGUMENT);
  t.regex(error?.message ?? "", /path segment 3 \(this proxy, "proxy-1"\) has an empty id/);
});

test("our name anywhere else is a loop: FAILED_PRECONDITION", t => {
  for (const at of [0, 1, 2]) {
    const segments = base.path!.pathSegments.map((s, i) => (i === at ? { ...s, name: "proxy-1" } : s));
    const error = t.throws(() => checkOwnSegment({ ...base, path: { index: 2, pathSegments: segments } }, "proxy-1"));
    t.is((error as { code?: Code }).code, Code.FAILED_PRECONDITION, `at ${at}`);
    t.regex(error?.message ?? "", /^loop: /);
  }
  const later = { ...base, path: { index: 2, pathSegments: [...base.path!.pathSegments, seg("proxy-1", "p1"), seg("x", "x"), seg("proxy-1", "again")] } };
  t.is((t.throws(() => checkOwnSegment(later, "proxy-1")) as { code?: Code }).code, Code.FAILED_PRECONDITION);
});
