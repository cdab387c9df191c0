/**
 * A remote domain's registry restarts (deployments-k8s#13118: about a minute of failed lookups for NSM
 * users): a real registry process killed with SIGKILL and started again on the same port, behind two
 * real gateways, one with PNSMGR_REGISTRY_STALE_FOR=0 (the behaviour without restart tolerance) and
 * one with a window. The domain is the literal `127.0.0.1:PORT` (no DNS). Finds are probed through both
 * all along; the test prints how long lookups failed through each.
 */
import test from "ava";
import { setTimeout as sleep } from "node:timers/promises";
import { callUnary, closeAll, openServerStream } from "../../support/grpc.js";
import { waitFor } from "../../support/wait.js";
import { startTestGateway, stopGateways } from "../../support/gateway.js";
import { timestamp } from "../../support/fake-v1-registry.js";
import { type RegistryProcess, startRegistryProcess } from "../../support/registry-process.js";
import type { Gateway } from "../../../lib/gateway.js";
import { NetworkServiceEndpoint, NetworkServiceEndpointRegistryService as NSE } from "../../../generated/nsm/registry.js";

const running: RegistryProcess[] = [];
test.afterEach.always(async () => {
  await stopGateways();
  await closeAll();
  await Promise.all(running.splice(0).map(r => r.kill()));
});

const PROBE_EVERY_MS = 100;
const DOWN_FOR_MS = 2_000;

interface Probe {
  at: number;
  ok: boolean;
  urls: string[];
}

/** Finds through `gateway` every PROBE_EVERY_MS until `stop()`; each outcome with its time. */
function probeFinds(gateway: Gateway, domain: string) {
  const probes: Probe[] = [];
  let running = true;
  const done = (async () => {
    while (running) {
      const at = Date.now();
      const find = openServerStream(gateway.v1Address, NSE.find, { networkServiceEndpoint: NetworkServiceEndpoint.fromPartial({ networkServiceNames: [`icmp@${domain}`] }), watch: false }, { deadlineMs: 2_000 });
      const end = await find.status;
      const urls = find.received.map(res => res.networkServiceEndpoint?.url ?? "");
      probes.push({ at, ok: end.code === 0 && urls.length > 0, urls });
      await sleep(Math.max(0, PROBE_EVERY_MS - (Date.now() - at)));
    }
  })();
  return {
    probes,
    async stop() {
      running = false;
      await done;
    },
  };
}

/** How long lookups failed: from the first failed probe to the first good one after the last failure. */
function failedFor(probes: readonly Probe[]): number {
  const firstFail = probes.findIndex(p => !p.ok);
  if (firstFail < 0) return 0;
  let lastFail = probes.length - 1;
  while (probes[lastFail]?.ok) lastFail--;
  const recovered = probes[lastFail + 1]?.at ?? Date.now();
  return recovered - (probes[firstFail]?.at ?? 0);
}

test.serial("a remote registry killed and restarted on its port: Finds answered stale (counted), the watch stays open and sees a change made after the restart", async t => {
  const nse1 = NetworkServiceEndpoint.fromPartial({
    name: "nse-1",
    networkServiceNames: ["icmp"],
    url: "tcp://10.244.1.5:5001",
    expirationTime: timestamp(Date.now() + 3_600_000),
    initialRegistrationTime: timestamp(Date.now() - 1_000),
  });
  const first = await startRegistryProcess(0, [nse1]);
  running.push(first);
  const domain = first.address;
  const plain = await startTestGateway({ name: "plain", registryStaleForMs: 0 });
  const tolerant = await startTestGateway({ name: "tolerant", registryStaleForMs: 60_000, metricsListenAddress: "127.0.0.1:0" });

  const watch = openServerStream(tolerant.v1Address, NSE.find, { networkServiceEndpoint: NetworkServiceEndpoint.fromPartial({ networkServiceNames: [`icmp@${domain}`] }), watch: true });
  t.like(await watch.next(), { networkServiceEndpoint: { name: `nse-1@${domain}`, url: `tcp://${tolerant.v1Address}` }, deleted: false });

  const plainProbes = probeFinds(plain, domain);
  const tolerantProbes = probeFinds(tolerant, domain);
  await waitFor(() => plainProbes.probes.some(p => p.ok) && tolerantProbes.probes.some(p => p.ok), 10_000, "a first good answer through both gateways");
  await tolerant.routes.delete(`nse-1@${domain}`);

  await first.kill();
  running.splice(0);
  const killedAt = Date.now();
  await sleep(DOWN_FOR_MS);
  const learnedWhileDown = await tolerant.routes.get(`nse-1@${domain}`);
  const second = await startRegistryProcess(first.port, [nse1]);
  running.push(second);
  const backAt = Date.now();
  t.log(`registry down for ${backAt - killedAt} ms (SIGKILL, ${DOWN_FOR_MS} ms pause, a new process on port ${second.port})`);

  // a change made after the restart reaches the open watch; nse-1, unchanged, is not repeated
  const nse2 = NetworkServiceEndpoint.fromPartial({ name: "nse-2", networkServiceNames: ["icmp"], url: "tcp://10.244.1.6:5001", expirationTime: nse1.expirationTime });
  await callUnary(second.address, NSE.register, nse2);
  t.like(await watch.next(), { networkServiceEndpoint: { name: `nse-2@${domain}`, url: `tcp://${tolerant.v1Address}` }, deleted: false });

  await waitFor(() => plainProbes.probes.some(p => p.at > backAt && p.ok), 15_000, "the gateway without restart tolerance to find again");
  await sleep(300);
  await Promise.all([plainProbes.stop(), tolerantProbes.stop()]);

  const duringOutage = (probes: readonly Probe[]) => probes.filter(p => p.at >= killedAt && p.at < backAt);
  const plainFailed = failedFor(plainProbes.probes);
  const tolerantFailed = failedFor(tolerantProbes.probes);
  t.log(`lookups failed for ${plainFailed} ms without the stale window (PNSMGR_REGISTRY_STALE_FOR=0), ${tolerantFailed} ms with it (${tolerantProbes.probes.length} Finds probed every ${PROBE_EVERY_MS} ms)`);
  t.true(duringOutage(plainProbes.probes).length > 0 && duringOutage(plainProbes.probes).every(p => !p.ok), "without the window every Find failed while the registry was down");
  t.true(plainFailed >= DOWN_FOR_MS, "the outage was real");
  t.is(tolerantFailed, 0, "with the window no Find failed");
  t.true(duringOutage(tolerantProbes.probes).length >= 5, "Finds were answered while the registry was down");
  t.true(
    tolerantProbes.probes.every(p => p.urls.every(url => url === `tcp://${tolerant.v1Address}`)),
    "stale answers are rewritten as fresh ones: the NSE url is this proxy",
  );
  t.is(learnedWhileDown, `tcp://${domain}`, "and the route to the domain's proxy is learned from them (forgotten before the kill, learned again while down)");

  const scrape = await fetch(`http://${String(tolerant.metricsAddress)}/metrics`).then(r => r.text());
  const counted = Number(new RegExp(`pnsmgr_registry_stale_answers_total\\{domain="${domain.replace(/\./g, "\\.")}"\\} (\\d+)`).exec(scrape)?.[1] ?? 0);
  t.log(`pnsmgr_registry_stale_answers_total{domain="${domain}"} ${counted}`);
  t.true(counted >= duringOutage(tolerantProbes.probes).length - 1, "stale answers are counted");

  const stillOpen = await Promise.race([watch.status.then(() => false), sleep(50).then(() => true)]);
  t.true(stillOpen, "the watch stream is still open");
  t.is(watch.received.length, 2, "nse-1 once, nse-2 once: nothing repeated");
  watch.cancel();
});

test.serial("a registry that stays away longer than the window: the watch ends UNAVAILABLE and Finds fail again once the last answer is too old", async t => {
  const registry = await startRegistryProcess(0, [NetworkServiceEndpoint.fromPartial({ name: "nse-1", networkServiceNames: ["icmp"], url: "tcp://10.244.1.5:5001" })]);
  running.push(registry);
  const gateway = await startTestGateway({ name: "tolerant", registryStaleForMs: 1_500 });
  const query = { networkServiceEndpoint: NetworkServiceEndpoint.fromPartial({ networkServiceNames: [`icmp@${registry.address}`] }), watch: false };
  const watch = openServerStream(gateway.v1Address, NSE.find, { ...query, watch: true });
  await watch.next();
  const find = async () => {
    const stream = openServerStream(gateway.v1Address, NSE.find, query, { deadlineMs: 2_000 });
    return { code: (await stream.status).code, found: stream.received.length };
  };
  t.deepEqual(await find(), { code: 0, found: 1 });
  await registry.kill();
  running.splice(0);
  const killedAt = Date.now();
  t.deepEqual(await find(), { code: 0, found: 1 }, "within the window: the last good answer");
  const end = await watch.status;
  const watchEndedAfter = Date.now() - killedAt;
  t.log(`watch ended ${end.code === 14 ? "UNAVAILABLE" : end.code} ${watchEndedAfter} ms after the kill (window 1500 ms)`);
  t.is(end.code, 14);
  t.true(watchEndedAfter >= 1_400 && watchEndedAfter < 8_000, `ended after about the window, not at once nor never (${watchEndedAfter} ms)`);
  await sleep(Math.max(0, 1_600 - (Date.now() - killedAt)));
  t.is((await find()).code, 14, "past the window: UNAVAILABLE as without it");
});

test.serial("a registry that hangs (SIGSTOP): the last good answer comes just before the caller's deadline instead of DEADLINE_EXCEEDED", async t => {
  const registry = await startRegistryProcess(0, [NetworkServiceEndpoint.fromPartial({ name: "nse-1", networkServiceNames: ["icmp"], url: "tcp://10.244.1.5:5001" })]);
  running.push(registry);
  const plain = await startTestGateway({ name: "plain", registryStaleForMs: 0 });
  const tolerant = await startTestGateway({ name: "tolerant", registryStaleForMs: 60_000 });
  const query = { networkServiceEndpoint: NetworkServiceEndpoint.fromPartial({ networkServiceNames: [`icmp@${registry.address}`] }), watch: false };
  const find = async (gateway: Gateway) => {
    const started = Date.now();
    const stream = openServerStream(gateway.v1Address, NSE.find, query, { deadlineMs: 3_000 });
    const { code } = await stream.status;
    return { code, found: stream.received.length, ms: Date.now() - started };
  };
  t.like(await find(plain), { code: 0, found: 1 });
  t.like(await find(tolerant), { code: 0, found: 1 });
  registry.signal("SIGSTOP");
  try {
    const [fromPlain, fromTolerant] = await Promise.all([find(plain), find(tolerant)]);
    t.log(`registry stopped: without the window DEADLINE_EXCEEDED after ${fromPlain.ms} ms; with it the last good answer after ${fromTolerant.ms} ms (caller's deadline 3000 ms)`);
    t.is(fromPlain.code, 4);
    t.like(fromTolerant, { code: 0, found: 1 });
    t.true(fromTolerant.ms >= 2_000 && fromTolerant.ms < 3_000, `given near the deadline, not before the registry had its time (${fromTolerant.ms} ms)`);
  } finally {
    registry.signal("SIGCONT");
  }
});
