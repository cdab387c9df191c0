import test from "ava";
import { firstValueFrom, lastValueFrom, of, toArray, type Observable } from "rxjs";
import { chain, type Handler } from "../../../lib/pipeline/element.js";
import { createNodeMap } from "../../../lib/nodes/node-map.js";
import { externalBulkRegistrationUrl, externalRegistrationUrl } from "../../../lib/planes/registry/external-registration-url.js";
import type { NSERegistration } from "../../../generated/seed/registry.js";
import { ctx, recordingLog, registration } from "./_support.js";

const nodes = createNodeMap([{ name: "node-1", internalIP: "10.0.0.1", externalIP: "203.0.113.1" }]);

test("the NSMgr URL goes out with the node's external IP, the rest unchanged", async t => {
  const sent: NSERegistration[] = [];
  const handler = chain(externalRegistrationUrl<NSERegistration>(nodes, recordingLog()))(req => {
    sent.push(req);
    return of(req);
  });
  const reg = registration({ name: "node-1", url: "10.0.0.1:5001" });
  await firstValueFrom(handler(reg, ctx()));
  t.is(sent[0]?.networkServiceManager?.url, "203.0.113.1:5001");
  t.is(sent[0]?.networkServiceManager?.name, "node-1");
  t.is(sent[0]?.networkServiceEndpoint, reg.networkServiceEndpoint);
  t.is(reg.networkServiceManager?.url, "10.0.0.1:5001", "the request received is not edited");
});

test("found by NSMgr name when the URL's host is no node IP", async t => {
  const handler = chain(externalRegistrationUrl<NSERegistration>(nodes, recordingLog()))(req => of(req));
  const res = await firstValueFrom(handler(registration({ name: "node-1", url: "nsmd.local:5001" }), ctx()));
  t.is(res.networkServiceManager?.url, "203.0.113.1:5001");
});

test("no node: forwarded as is, logged at debug", async t => {
  const log = recordingLog();
  const handler = chain(externalRegistrationUrl<NSERegistration>(nodes, log))(req => of(req));
  const reg = registration({ name: "node-9", url: "198.51.100.9:5001" });
  t.is(await firstValueFrom(handler(reg, ctx())), reg);
  t.deepEqual(log.lines.map(l => l.level), ["debug"]);
});

test("each streamed registration is swapped", async t => {
  const echo: Handler<Observable<NSERegistration>, NSERegistration> = requests => requests;
  const bulk = chain(externalBulkRegistrationUrl<NSERegistration>(nodes, recordingLog()))(echo);
  const out = await lastValueFrom(
    bulk(of(registration({ name: "node-1", url: "10.0.0.1:5001" }, "a"), registration({ name: "x", url: "10.0.0.1:6001" }, "b")), ctx()).pipe(toArray()),
  );
  t.deepEqual(
    out.map(r => r.networkServiceManager?.url),
    ["203.0.113.1:5001", "203.0.113.1:6001"],
  );
});
