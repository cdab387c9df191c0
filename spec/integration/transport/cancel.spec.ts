/**
 * A caller's cancel reaches the next hop: the proxy's upstream call is cancelled within 100 ms, one
 * call at a time and in a burst, including resets that land before grpc-js runs the handler.
 */
import test from "ava";
import { Client, Metadata, credentials } from "@grpc/grpc-js";
import { connect, constants } from "node:http2";
import { NetworkServiceRequest, NetworkServiceService } from "../../../generated/nsm/networkservice.js";
import { startFakeNsmgr } from "../../support/fake-nsmgr.js";
import { startTestGateway, stopGateways } from "../../support/gateway.js";
import { closeAll } from "../../support/grpc.js";
import { waitFor } from "../../support/wait.js";
import { seedRequest } from "../../support/seed-requests.js";

test.afterEach.always(async () => {
  await stopGateways();
  await closeAll();
});

const request = NetworkServiceService.request;

test.serial("a cancelled Request is cancelled at the next hop within 100 ms, alone and 200 at once", async t => {
  const remote = await startFakeNsmgr({ hang: true });
  const gateway = await startTestGateway();
  const client = new Client(gateway.apiAddress, credentials.createInsecure());
  t.teardown(() => client.close());
  const send = () =>
    client.makeUnaryRequest(request.path, request.requestSerialize, request.responseDeserialize, seedRequest(`nsmgr-2@${remote.address}`), new Metadata(), { deadline: Date.now() + 20_000 }, () => undefined);

  const latencies: number[] = [];
  for (let i = 0; i < 5; i++) {
    const before = remote.cancelled();
    const call = send();
    await waitFor(() => remote.requests.length === i + 1, 5000, "the Request at the remote");
    const started = performance.now();
    call.cancel();
    await waitFor(() => remote.cancelled() === before + 1, 2000, "the cancel at the remote");
    latencies.push(performance.now() - started);
  }
  latencies.sort((a, b) => a - b);
  t.log(`cancel → remote: ${latencies.map(l => l.toFixed(1)).join(", ")} ms`);
  t.true(latencies[2]! < 100, `median ${latencies[2]} ms`);

  const calls = Array.from({ length: 200 }, send);
  await waitFor(() => remote.requests.length === 205, 10_000, "200 Requests at the remote");
  const started = performance.now();
  for (const call of calls) call.cancel();
  await waitFor(() => remote.cancelled() === 205, 5000, `200 cancels at the remote (${remote.cancelled() - 5})`);
  t.log(`200 cancels reached the remote in ${(performance.now() - started).toFixed(0)} ms`);
});

test.serial("a burst of Requests reset right after sending leaves none open at the next hop", async t => {
  const remote = await startFakeNsmgr({ hang: true });
  const gateway = await startTestGateway();
  const body = Buffer.from(NetworkServiceRequest.encode(seedRequest(`nsmgr-2@${remote.address}`)).finish());
  const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, 0]), body]);
  frame.writeUInt32BE(body.length, 1);
  // Warm the proxy's channel to the remote first, so that the burst gets there.
  const warm = new Client(gateway.apiAddress, credentials.createInsecure());
  t.teardown(() => warm.close());
  const first = warm.makeUnaryRequest(request.path, request.requestSerialize, request.responseDeserialize, seedRequest(`nsmgr-2@${remote.address}`), new Metadata(), { deadline: Date.now() + 20_000 }, () => undefined);
  await waitFor(() => remote.requests.length === 1, 5000, "the first Request at the remote");
  first.cancel();
  const sessions = Array.from({ length: 4 }, () => connect(`http://${gateway.apiAddress}`).on("error", () => undefined));
  t.teardown(() => sessions.forEach(s => s.destroy()));
  let sent = 0;
  for (const [i, session] of sessions.entries()) {
    for (let j = 0; j < 250; j++) {
      const stream = session.request({ ":method": "POST", ":path": request.path, "content-type": "application/grpc", te: "trailers", "grpc-timeout": "20S" });
      stream.on("error", () => undefined);
      stream.end(frame);
      sent++;
      // Some reset at once, some a little later (after the proxy has dialled on).
      const reset = () => stream.close(constants.NGHTTP2_CANCEL);
      if ((i + j) % 2 === 0) setImmediate(reset);
      else setTimeout(reset, 5 + (j % 60));
    }
  }
  const lastReset = performance.now() + 70;
  await new Promise(resolve => setTimeout(resolve, 300));
  // One process runs the caller, the proxy and the remote here: allow the burst some time to drain.
  await waitFor(() => remote.openRequests() === 0, 5000, "no Request left open at the remote").catch(() => undefined);
  t.log(`${sent} sent, ${remote.requests.length} reached the remote, ${remote.openRequests()} still open there ${(performance.now() - lastReset).toFixed(0)} ms after the last reset`);
  t.true(remote.requests.length > 1, "some Requests got as far as the remote before their reset");
  t.is(remote.openRequests(), 0, "every Request that reached the remote was cancelled there");
});
