/** Stopping a gateway ends its streams at once with UNAVAILABLE, and failed calls reach the log at warn. */
import test from "ava";
import { status } from "@grpc/grpc-js";
import { MonitorConnectionService } from "../../generated/nsm/connection.js";
import { NetworkServiceService } from "../../generated/nsm/networkservice.js";
import type { Logger } from "../../lib/log.js";
import { callError, closeAll, openServerStream } from "../support/grpc.js";
import { startTestGateway, stopGateways } from "../support/gateway.js";
import { startFakeNsmgr } from "../support/fake-nsmgr.js";
import { seedRequest } from "../support/seed-requests.js";
import { segment } from "../support/wire.js";

test.afterEach.always(async () => {
  await stopGateways();
  await closeAll();
});

test.serial("a drain ends open monitor streams with UNAVAILABLE at once instead of waiting out the grace period", async t => {
  const remote = await startFakeNsmgr();
  const gateway = await startTestGateway();
  const stream = openServerStream(gateway.apiAddress, MonitorConnectionService.monitorConnections, { pathSegments: [segment("nsmgr-1"), segment(`nsmgr-2@${remote.address}`)], networkServices: [] });
  await stream.next();
  const started = Date.now();
  await gateway.stop(10_000);
  const end = await stream.status;
  t.is(end.code, status.UNAVAILABLE);
  t.regex(end.details, /shutting down/);
  t.true(Date.now() - started < 2000, `stop took ${Date.now() - started} ms with a 10 s grace`);
});

test.serial("failed calls are logged at warn with method, code and reason", async t => {
  const lines: string[] = [];
  const log: Logger = { debug() {}, info() {}, error() {}, warn: (msg, fields) => void lines.push(`${msg} ${JSON.stringify(fields)}`) };
  const gateway = await startTestGateway({}, { log });
  await callError(gateway.apiAddress, NetworkServiceService.request, seedRequest("no-at-sign"));
  const failed = lines.filter(l => l.startsWith("call failed"));
  t.is(failed.length, 1, lines.join("\n"));
  t.regex(failed[0] ?? "", /call failed .*\/networkservice\.NetworkService\/Request.*INVALID_ARGUMENT.*has no/);
});
