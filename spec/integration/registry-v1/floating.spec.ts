/**
 * Floating interdomain over real gRPC: an NSE of domain 2 registers as `pod@floating.test` through
 * proxy 2 (what registry 2 does with an '@' name) into a floating registry that is nothing but a
 * registry in DNS; a client side in domain 1 finds it through proxy 1. Proxy 2 publishes its public
 * url mapped by its IP map, with its cluster labels.
 */
import test, { type ExecutionContext } from "ava";
import { status } from "@grpc/grpc-js";
import { callUnary, closeAll, openServerStream } from "../../support/grpc.js";
import { waitFor } from "../../support/wait.js";
import { sandbox } from "../../support/sandbox.js";
import { NetworkService, NetworkServiceEndpoint, NetworkServiceEndpointRegistryService as NSE, NetworkServiceRegistryService as NS } from "../../../generated/nsm/registry.js";

test.afterEach.always(async () => {
  await closeAll();
});

async function floating(t: ExecutionContext) {
  const world = await sandbox(t)
    // the floating domain is a registry only: no nsmgr-proxy SRV record
    .domain("floating.test", d => d.registry().published({ registryHost: "registry.floating.test" }))
    // proxy 2 knows itself by its pod IP; the IP map turns that into the address others reach
    .domain("cluster2", d => d.registry().gateway({ name: "proxy2" }, { publicHost: "10.99.0.2", ipMap: [["10.99.0.2", "127.0.0.1"]], clusterName: "cluster-2" }))
    .domain("cluster1", d => d.registry().gateway({ name: "proxy1" }))
    .build();
  const [one, two] = [world.domain("cluster1"), world.domain("cluster2")];
  return {
    dns: world.dns,
    registry1: one.registry,
    registry2: two.registry,
    floatingRegistry: world.domain("floating.test").registry,
    proxy1: one.gateway,
    proxy2: two.gateway,
    proxy1Url: one.url,
    proxy2External: `tcp://127.0.0.1:${two.port}`,
  };
}

const pod = NetworkServiceEndpoint.fromPartial({
  name: "pod@floating.test",
  networkServiceNames: ["icmp@floating.test"],
  networkServiceLabels: { "icmp@floating.test": { labels: { app: "pinger" } } },
  url: "tcp://10.244.2.7:5001", // nsmgr 2, never reachable from outside domain 2
});

test.serial("Register through proxy 2 publishes proxy 2's external url, cluster labels and stripped names; the answer is the NSE as registered", async t => {
  const { proxy2, floatingRegistry, proxy2External } = await floating(t);
  const answer = await callUnary(proxy2.v1Address, NSE.register, pod);
  const published = floatingRegistry.nses.get("pod");
  t.like(published, {
    name: "pod",
    networkServiceNames: ["icmp"],
    networkServiceLabels: { icmp: { labels: { app: "pinger", clusterName: "cluster-2" } } },
    url: proxy2External,
  });
  t.like(answer, { name: "pod@floating.test", networkServiceNames: ["icmp@floating.test"], url: "tcp://10.244.2.7:5001" });
  t.deepEqual(answer.expirationTime, published?.expirationTime, "the registry's expiration comes back unchanged");

  await callUnary(proxy2.v1Address, NS.register, NetworkService.fromPartial({ name: "icmp@floating.test", payload: "ETHERNET" }));
  t.true(floatingRegistry.nss.has("icmp"));
});

test.serial("domain 1 finds the floating NSE through proxy 1 (no proxy SRV: the published url is what proxy 1 routes to); watchers see Unregister", async t => {
  const { proxy1, proxy2, floatingRegistry, dns, proxy1Url } = await floating(t);
  await callUnary(proxy2.v1Address, NSE.register, pod);

  const watch = openServerStream(proxy1.v1Address, NSE.find, { networkServiceEndpoint: NetworkServiceEndpoint.fromPartial({ name: "pod@floating.test" }), watch: true });
  t.like(await watch.next(), { networkServiceEndpoint: { name: "pod@floating.test", networkServiceNames: ["icmp@floating.test"], url: proxy1Url }, deleted: false });
  t.true(dns.queries.includes("SRV nsmgr-proxy.nsm-system.floating.test"), "proxy 1 looked for a proxy of the floating domain");
  await waitFor(() => floatingRegistry.openWatches() === 1, 2000, "the floating registry's watch");

  await callUnary(proxy2.v1Address, NSE.unregister, pod);
  t.is(floatingRegistry.nses.size, 0);
  t.like(await watch.next(), { networkServiceEndpoint: { name: "pod@floating.test", url: proxy1Url }, deleted: true });
  watch.cancel();
  t.is((await watch.status).code, status.CANCELLED);
  await waitFor(() => floatingRegistry.openWatches() === 0, 2000, "the floating registry's watch to be cancelled");
});

test.serial("Unregister through proxy 2 reaches the floating registry stripped, with proxy 2's external url", async t => {
  const { proxy2, floatingRegistry, proxy2External } = await floating(t);
  await callUnary(proxy2.v1Address, NSE.register, pod);
  await callUnary(proxy2.v1Address, NSE.unregister, pod);
  t.like(floatingRegistry.callsOf("nse.unregister")[0]?.request, { name: "pod", url: proxy2External });
});
