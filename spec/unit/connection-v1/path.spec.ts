/** update-path rules (the SDK's updatepath) and the frames of a Request's answer. */
import test from "ava";
import { firstValueFrom, of } from "rxjs";
import { chain } from "../../../lib/pipeline/element.js";
import { Code } from "../../../lib/pipeline/errors.js";
import { toCallerFrame, updatePath } from "../../../lib/planes/connection/v1/path.js";
import { updatePathClose, updatePathRequest } from "../../../lib/planes/connection/v1/update-path.js";
import type { Connection } from "../../../generated/nsm/connection.js";
import type { NetworkServiceRequest } from "../../../generated/nsm/networkservice.js";
import { ctx, errorOf, fwdConnection, fwdRequest, seg } from "./_support.js";
import { frozen } from "../../support/values.js";

const ids = () => {
  let n = 0;
  return () => `new-${++n}`;
};

test("a new hop is appended at index+1 with a fresh id, which becomes conn.id", t => {
  const input = frozen(fwdConnection());
  const { conn, callerIndex } = updatePath(input, "proxy-1", ids());
  t.is(callerIndex, 2);
  t.is(conn.id, "new-1");
  t.is(conn.path?.index, 3);
  t.deepEqual(conn.path?.pathSegments.map(s => s.name), ["nsc", "nsmgr-1", "fwd-1", "proxy-1"]);
  t.is(conn.path?.pathSegments[3]?.id, "new-1");
});

test("a refresh reuses the id of the next segment when it carries our name; later segments stay", t => {
  const base = fwdConnection();
  const eight = { ...base, path: { index: 2, pathSegments: [...base.path!.pathSegments, seg("proxy-1", "p1"), seg("proxy-2", "p2"), seg("nsmgr-2", "n2"), seg("fwd-2", "f2"), seg("nse", "e")] } };
  const { conn } = updatePath(frozen(eight), "proxy-1", ids());
  t.is(conn.id, "p1");
  t.is(conn.path?.index, 3);
  t.is(conn.path?.pathSegments.length, 8);
});

test("a next segment with another name is taken over with a new id", t => {
  const base = fwdConnection();
  const stale = { ...base, path: { index: 2, pathSegments: [...base.path!.pathSegments, seg("old-proxy", "old")] } };
  const { conn } = updatePath(stale, "proxy-1", ids());
  t.is(conn.path?.pathSegments[3]?.name, "proxy-1");
  t.is(conn.id, "new-1");
});

test("an empty path starts with us at index 0, keeping a given id", t => {
  const { conn, callerIndex } = updatePath(fwdConnection({ id: "given", path: undefined }), "proxy-1", ids());
  t.is(callerIndex, 0);
  t.is(conn.id, "given");
  t.deepEqual(conn.path, { index: 0, pathSegments: [seg("proxy-1", "given")] });
  t.is(updatePath(fwdConnection({ id: "", path: undefined }), "proxy-1", ids()).conn.id, "new-1");
});

test("a current segment with our own name means we are that hop", t => {
  const base = fwdConnection();
  const { conn, callerIndex } = updatePath({ ...base, path: { ...base.path!, index: 2 } }, "fwd-1", ids());
  t.is(conn.id, "fwd-1-id");
  t.is(callerIndex, 2);
  t.is(conn.path?.index, 2);
});

test("index beyond the path and an id that is not the current segment's are INVALID_ARGUMENT", t => {
  const base = fwdConnection();
  const beyond = t.throws(() => updatePath({ ...base, path: { ...base.path!, index: 3 } }, "proxy-1"));
  t.is((beyond as { code?: Code }).code, Code.INVALID_ARGUMENT);
  t.regex(beyond?.message ?? "", /Path.Index\+1==4 should be less or equal len\(Path.PathSegments\)==3/);
  const wrongId = t.throws(() => updatePath({ ...base, id: "someone-else" }, "proxy-1"));
  t.is((wrongId as { code?: Code }).code, Code.INVALID_ARGUMENT);
  t.regex(wrongId?.message ?? "", /Current PathSegment.Id==fwd-1-id should be equal Connection.Id==someone-else/);
});

test("toCallerFrame: the caller's segment id and index, the downstream path kept", t => {
  const conn: Connection = { ...fwdConnection(), id: "p1", path: { index: 3, pathSegments: [...fwdConnection().path!.pathSegments, seg("proxy-1", "p1"), seg("nsmgr-2", "n2")] } };
  const shown = toCallerFrame(conn, 2, "fallback");
  t.is(shown.id, "fwd-1-id");
  t.is(shown.path?.index, 2);
  t.is(shown.path?.pathSegments.length, 5);
  t.is(toCallerFrame({ ...conn, path: { index: 0, pathSegments: [] } }, 2, "fallback").id, "fallback", "a path cut short downstream still answers the caller's id");
});

test("update-path element: next hop sees our frame, the caller gets its own frame back; Close goes out in our frame", async t => {
  const seen: NetworkServiceRequest[] = [];
  const request = chain(updatePathRequest("proxy-1", () => "p1"))(req => {
    seen.push(req);
    return of({ ...req.connection!, path: { ...req.connection!.path!, pathSegments: [...req.connection!.path!.pathSegments, seg("proxy-2", "p2")] } });
  });
  const answer = await firstValueFrom(request(frozen(fwdRequest()), ctx()));
  t.is(seen[0]?.connection?.id, "p1");
  t.is(seen[0]?.connection?.path?.index, 3);
  t.is(answer.id, "fwd-1-id");
  t.is(answer.path?.index, 2);
  t.is(answer.path?.pathSegments.length, 5);

  const closed: Connection[] = [];
  const close = chain(updatePathClose<object>("proxy-1", () => "never"))(conn => {
    closed.push(conn);
    return of({});
  });
  await firstValueFrom(close(answer, ctx()));
  t.is(closed[0]?.id, "p1", "Close finds our segment id in the path");
  t.is(closed[0]?.path?.index, 3);
  const error = await errorOf(close({ ...answer, id: "forged" }, ctx()));
  t.is(error.code, Code.INVALID_ARGUMENT);
});
