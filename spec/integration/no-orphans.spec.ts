/**
 * No orphans: a Request the remote NSMgr accepted, whose caller was then told it failed (here: the
 * connection record could not be written because redis-server was killed mid-traffic), is Closed at
 * the remote. Seed and v1 planes, each against a stand-in NSMgr that counts its open connections:
 * afterwards it holds exactly the connections whose callers got an answer.
 */
import test from "ava";
import type { ServiceError } from "@grpc/grpc-js";
import { NetworkServiceService } from "../../generated/nsm/networkservice.js";
import { startFakeNsmgr } from "../support/fake-nsmgr.js";
import { callUnary, closeAll } from "../support/grpc.js";
import { waitFor } from "../support/wait.js";
import { sandbox } from "../support/sandbox.js";
import { seedRequest } from "../support/seed-requests.js";
import { fwdRequest, fwdToken } from "./connection-v1/_topology.js";
import { segment } from "../support/wire.js";

test.afterEach.always(async () => {
  await closeAll();
});

/** Sends `total` calls, `concurrency` at a time; kills Redis once `killAfter` have been answered. */
async function traffic(total: number, concurrency: number, killAfter: number, kill: () => Promise<void>, call: (i: number) => Promise<unknown>) {
  let next = 0;
  let done = 0;
  let killing: Promise<void> | undefined;
  const failures: string[] = [];
  let answered = 0;
  const worker = async () => {
    while (next < total) {
      const i = next++;
      try {
        await call(i);
        answered++;
      } catch (error: unknown) {
        failures.push(`${(error as ServiceError).code} ${(error as Error).message}`);
      }
      if (++done === killAfter) killing = kill();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  await killing;
  return { answered, failures };
}

test.serial("seed: Requests accepted by the remote whose record write failed are Closed there", async t => {
  const { redis, gateway } = (await sandbox(t).domain("domain-1", d => d.redis().gateway()).build()).domain("domain-1");
  const remote = await startFakeNsmgr();
  const { answered, failures } = await traffic(300, 20, 100, () => redis.kill(), () =>
    callUnary(gateway.apiAddress, NetworkServiceService.request, seedRequest(`nsmgr-2@${remote.address}`), { deadlineMs: 5000 }),
  );
  t.log(`${answered} answered, ${failures.length} failed (${failures[0] ?? "-"}); the remote saw ${remote.requests.length}`);
  t.true(failures.length > 0 && answered > 0, "Redis went away mid-traffic");
  await waitFor(() => remote.connections.size === answered, 5000, `open at the remote: ${remote.connections.size}, answered ${answered}`).catch(() => undefined);
  t.is(remote.connections.size, answered, "open at the remote = the Requests whose caller got an answer");
  const orphans = gateway.proxy.connection.orphans;
  await waitFor(() => orphans.closed() === remote.requests.length - answered, 2000, "the closes counted").catch(() => undefined);
  t.log(`closed at the remote: ${orphans.closed()}, close failed: ${orphans.failed()}`);
  t.is(orphans.closed(), remote.requests.length - answered, "every accepted-then-failed Request was closed and counted");
});

test.serial("v1: new connections accepted by the next hop whose record write failed are Closed there", async t => {
  // The next hop holds its answers for 1.5 s: Redis dies while at least ten accepted Requests wait there,
  // so their record writes fail after the next hop accepted them (no timing luck needed).
  const world = await sandbox(t)
    .domain("domain-2", d => d.redis().nsmgr({ name: "nsmgr-2", endpoints: ["nse"], answerDelayMs: 1500 }).gateway({ name: "proxy-2" }))
    .build();
  const { redis, nsmgr, gateway } = world.domain("domain-2");
  const request = (i: number) => {
    const id = `fwd-1-id-${i}`;
    return fwdRequest({ id, networkServiceEndpointName: "nse", networkService: "ns", path: { index: 2, pathSegments: [segment("nsc", `nsc-${i}`), segment("nsmgr-1", `nsmgr-1-${i}`), segment("fwd-1", id)] } });
  };
  const metadata = await fwdToken();
  const calls = Array.from({ length: 30 }, (_, i) =>
    callUnary(gateway.v1Address, NetworkServiceService.request, request(i), { deadlineMs: 8000, metadata }).then(
      () => undefined,
      (error: ServiceError) => `${error.code} ${error.message}`,
    ),
  );
  await waitFor(() => nsmgr.requests.length >= 10, 10_000, "ten Requests held at the next hop");
  await redis.kill();
  const results = await Promise.all(calls);
  const failures = results.filter((r): r is string => r !== undefined);
  const answered = results.length - failures.length;
  t.log(`${answered} answered, ${failures.length} failed (${failures[0] ?? "-"}); the next hop saw ${nsmgr.requests.length}`);
  t.true(failures.length > 0, "Redis went away while Requests were held at the next hop");
  await waitFor(() => nsmgr.connections.size === answered, 5000, `open at the next hop: ${nsmgr.connections.size}, answered ${answered}`).catch(() => undefined);
  t.is(nsmgr.connections.size, answered, "open at the next hop = the Requests whose caller got an answer");
  const orphans = gateway.proxy.v1.connection.orphans;
  await waitFor(() => orphans.closed() === nsmgr.requests.length - answered, 2000, "the closes counted").catch(() => undefined);
  t.log(`closed at the next hop: ${orphans.closed()}, close failed: ${orphans.failed()}`);
  t.true(orphans.closed() > 0, "some were caught between acceptance and the record");
  t.is(orphans.closed(), nsmgr.requests.length - answered);
});
