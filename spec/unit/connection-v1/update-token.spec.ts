/** update-token: the caller's token into the previous segment, ours into our segment and the outgoing metadata. */
import test from "ava";
import { firstValueFrom, of } from "rxjs";
import { chain } from "../../../lib/pipeline/element.js";
import { outgoingMetadata } from "../../../lib/pipeline/upstream.js";
import { updatePathRequest } from "../../../lib/planes/connection/v1/update-path.js";
import { updateToken } from "../../../lib/planes/connection/v1/update-token.js";
import { requestLens } from "../../../lib/planes/connection/v1/lens.js";
import { timestampMs } from "../../../lib/tokens/time.js";
import type { TokenGenerator } from "../../../lib/tokens/token-generator.js";
import type { Connection } from "../../../generated/nsm/connection.js";
import type { NetworkServiceRequest } from "../../../generated/nsm/networkservice.js";
import { ctx, fwdRequest } from "./_support.js";
import { frozen } from "../../support/values.js";

const OWN_EXPIRES = Date.UTC(2031, 5, 6, 7, 8, 9, 100);
const tokens: TokenGenerator = { issue: async () => ({ token: "proxy-token", expires: OWN_EXPIRES }) };

function run(metadata: Record<string, string>) {
  const seen: { req: NetworkServiceRequest; md: ReadonlyMap<string, string> | undefined }[] = [];
  const handler = chain(updatePathRequest("proxy-1", () => "p1"), updateToken<NetworkServiceRequest, Connection>(tokens, requestLens))((req, c) => {
    seen.push({ req, md: c.get(outgoingMetadata) });
    return of(req.connection!);
  });
  return { seen, done: firstValueFrom(handler(frozen(fwdRequest()), ctx(metadata))) };
}

test("caller's metadata token goes into the previous segment, ours into our segment and the outgoing metadata", async t => {
  const { seen, done } = run({ "nsm-client-token": "fwd-token", "nsm-client-token-expires": "2030-01-01T00:00:00.25Z" });
  await done;
  const segments = seen[0]!.req.connection!.path!.pathSegments;
  t.is(segments[2]?.token, "fwd-token");
  t.is(timestampMs(segments[2]?.expires), Date.UTC(2030, 0, 1, 0, 0, 0, 250));
  t.is(segments[3]?.token, "proxy-token");
  t.is(timestampMs(segments[3]?.expires), OWN_EXPIRES);
  t.deepEqual([...seen[0]!.md!], [
    ["nsm-client-token", "proxy-token"],
    ["nsm-client-token-expires", "2031-06-06T07:08:09.1Z"],
  ]);
});

test("incomplete or unparsable metadata leaves the previous segment as the caller wrote it", async t => {
  const cases: Record<string, string>[] = [{}, { "nsm-client-token": "only-token" }, { "nsm-client-token": "t", "nsm-client-token-expires": "soon" }];
  for (const metadata of cases) {
    const { seen, done } = run(metadata);
    await done;
    const prev = seen[0]!.req.connection!.path!.pathSegments[2];
    t.is(prev?.token, "", JSON.stringify(metadata));
    t.truthy(prev?.expires, "the caller's own expires stays");
    t.is(seen[0]!.req.connection!.path!.pathSegments[3]?.token, "proxy-token");
  }
});
