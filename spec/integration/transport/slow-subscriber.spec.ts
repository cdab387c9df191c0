/** A subscriber that stops reading gets RESOURCE_EXHAUSTED instead of unbounded buffering in the proxy. */
import test from "ava";
import { Client, Metadata, credentials, status } from "@grpc/grpc-js";
import { range, map } from "rxjs";
import { serveServerStream } from "../../../lib/transport/grpc/server-bridge.js";
import { type ConnectionEvent, ConnectionEventType, MonitorConnectionService } from "../../../generated/nsm/connection.js";
import { closeAll, startTestServer } from "../../support/grpc.js";

test.afterEach.always(() => closeAll());

test.serial("a stream whose caller does not read is ended with RESOURCE_EXHAUSTED", async t => {
  const big = "x".repeat(16 * 1024);
  const handler = () =>
    range(0, 5000).pipe(map((i): ConnectionEvent => ({ type: ConnectionEventType.UPDATE, connections: { [String(i)]: { id: String(i), networkService: big, mechanism: undefined, context: undefined, labels: {}, path: undefined, networkServiceEndpointName: "", payload: "", state: 0 } } })));
  const server = await startTestServer([[MonitorConnectionService, { monitorConnections: serveServerStream(handler, { maxQueued: 50 }) }]]);
  const client = new Client(server.address, credentials.createInsecure());
  t.teardown(() => client.close());
  const m = MonitorConnectionService.monitorConnections;
  const call = client.makeServerStreamRequest(m.path, m.requestSerialize, m.responseDeserialize, { pathSegments: [], networkServices: [] }, new Metadata(), { deadline: Date.now() + 10_000 });
  call.pause();
  call.on("error", () => undefined);
  const end = await new Promise<{ code: number; details: string }>(resolve => call.on("status", resolve));
  t.is(end.code, status.RESOURCE_EXHAUSTED);
  t.regex(end.details, /reads too slowly/);
});
