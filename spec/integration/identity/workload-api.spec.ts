/**
 * The SPIFFE Workload API client against a real SPIRE agent going away and coming back: start-up
 * fails with a clear error when no SVID arrives in time; while the agent is away the gateway keeps
 * serving with its last SVID, refuses new handshakes once that SVID has expired (saying so once in
 * the log), and serves again when the agent returns — no restart, no crash.
 */
import test from "ava";
import { type ServiceError, status } from "@grpc/grpc-js";
import { type Spire, nodeSelectors, startSpire } from "../../support/spire.js";
import { type SpiffeWorkload, startSpiffeWorkload } from "../../support/spiffe-workload.js";
import { startTestGateway, stopGateways } from "../../support/gateway.js";
import { callUnary, closeAll } from "../../support/grpc.js";
import { waitFor } from "../../support/wait.js";
import { createLogger } from "../../../lib/log.js";
import { HealthService, HealthCheckResponse_ServingStatus } from "../../../generated/nsm/health.js";

let spire: Spire;
let peer: SpiffeWorkload;

test.before(async t => {
  t.timeout(120_000);
  spire = await startSpire();
  await spire.createEntry({ trustDomain: "cluster1.test", spiffeId: "spiffe://cluster1.test/pnsmgr", selectors: nodeSelectors(), x509SvidTtl: 12 });
  await spire.createEntry({ trustDomain: "cluster2.test", spiffeId: "spiffe://cluster2.test/peer", selectors: nodeSelectors() });
  peer = await startSpiffeWorkload(spire.domain("cluster2.test").endpointSocket);
});

test.after.always(async () => {
  await closeAll();
  await stopGateways();
  peer?.close();
  await spire?.stop();
});

test.serial("no SVID within PNSMGR_SVID_TIMEOUT: start-up fails naming the socket and why", async t => {
  const error = await t.throwsAsync(startTestGateway({ spiffeEndpointSocket: "unix:///nonexistent/pnsmgr-test/agent.sock", svidTimeoutMs: 800 }));
  t.regex(error?.message ?? "", /no X\.509 SVID within 800 ms: SPIFFE Workload API at unix:\/\/\/nonexistent\/pnsmgr-test\/agent\.sock/);
});

test.serial("agent away: last SVID kept, then new handshakes refused after it expires (logged), served again when the agent returns", async t => {
  t.timeout(90_000);
  const lines: string[] = [];
  const gateway = await startTestGateway({ name: "proxy-1", spiffeEndpointSocket: spire.domain("cluster1.test").endpointSocket }, { log: createLogger("info", line => lines.push(line)) });
  const health = async () => {
    const client = peer.client(gateway.v1Address);
    try {
      return (await callUnary(gateway.v1Address, HealthService.check, { service: "" }, { client, deadlineMs: 2000 })).status;
    } catch (error: unknown) {
      return (error as ServiceError).code;
    } finally {
      client.close();
    }
  };
  t.is(await health(), HealthCheckResponse_ServingStatus.SERVING);

  await spire.stopAgent("cluster1.test");
  await waitFor(() => lines.some(l => l.includes("SPIFFE Workload API stream ended")), 10_000, "the client notices the agent is gone");
  t.is(await health(), HealthCheckResponse_ServingStatus.SERVING, "still serving with the last SVID");

  const notAfter = gateway.spiffe!.source.current()?.svid.notAfter ?? 0;
  await waitFor(() => gateway.spiffe!.source.current() === undefined, Math.max(notAfter - Date.now(), 0) + 5000, "the SVID expires");
  t.true(lines.some(l => /X\.509 SVID expired and the Workload API sent no new one/.test(l)), "one clear log line");
  t.is(await health(), status.UNAVAILABLE, "no new handshake without a valid SVID");

  await spire.restartAgent("cluster1.test");
  await waitFor(() => gateway.spiffe!.source.current() !== undefined, 30_000, "a fresh SVID once the agent is back");
  t.true(lines.some(l => l.includes("SPIFFE Workload API is back")));
  t.is(await health(), HealthCheckResponse_ServingStatus.SERVING, "serving again, no restart");
});
