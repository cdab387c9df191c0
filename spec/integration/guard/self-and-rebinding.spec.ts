/**
 * The destination guard where loopback is allowed (as in every test): this gateway's own listeners
 * stay refused under every spelling (it used to dial itself until the deadline); the allowlist is the
 * only way out when set; and a name is dialled at the address the guard checked (pinned), so a DNS
 * answer that changes to a refused address later gets the next call refused, never dialled.
 */
import test from "ava";
import { status } from "@grpc/grpc-js";
import { NetworkServiceService } from "../../../generated/nsm/networkservice.js";
import { startTestGateway, stopGateways } from "../../support/gateway.js";
import { closeFakeDns, startFakeDns } from "../../support/fake-dns.js";
import { startFakeNseRegistry } from "../../support/fake-v1-registry-lite.js";
import { startFakeNsmgr } from "../../support/fake-nsmgr.js";
import { callError, callUnary, closeAll } from "../../support/grpc.js";
import { freePort } from "../../support/ports.js";
import { seedRequest } from "../../support/seed-requests.js";
import { fwdRequest, fwdToken } from "../connection-v1/_topology.js";

test.afterEach.always(async () => {
  await closeAll();
  await stopGateways();
  await closeFakeDns();
});

const portOf = (address: string) => Number(address.slice(address.lastIndexOf(":") + 1));

test.serial("a v1 NSE or seed NSMgr at this gateway's own listeners, in any spelling, is refused at once (rule own listener)", async t => {
  const registry = await startFakeNseRegistry({});
  const gateway = await startTestGateway({ registryUrl: registry.url });
  const ports = [gateway.apiAddress, gateway.registryAddress, gateway.v1Address, gateway.adminAddress].map(portOf);
  const spellings = ["127.0.0.1", "127.0.0.2", "localhost", "[::1]", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "0.0.0.0", "[::]"];
  let i = 0;
  for (const port of ports) {
    for (const host of spellings) {
      i += 1;
      registry.nses.set(`self-${i}`, `tcp://${host}:${port}`);
      const started = Date.now();
      const v1 = await callError(gateway.v1Address, NetworkServiceService.request, fwdRequest({ networkServiceEndpointName: `self-${i}`, networkService: "ns" }), { metadata: await fwdToken(), deadlineMs: 5000 });
      if (`${host}:${port}` === gateway.v1Address) {
        // Our own URL exactly: the route element already says so, before any dial.
        t.is(v1.code, status.FAILED_PRECONDITION, v1.details);
      } else {
        t.is(v1.code, status.PERMISSION_DENIED, `${host}:${port}: ${v1.details}`);
        t.regex(v1.details, /rule own listener/);
      }
      const seed = await callError(gateway.apiAddress, NetworkServiceService.request, seedRequest(`nsmgr-2@${host}:${port}`), { deadlineMs: 5000 });
      t.is(seed.code, status.PERMISSION_DENIED, `${host}:${port}: ${seed.details}`);
      t.regex(seed.details, new RegExp(`${host.replace(/[[\]]/g, "\\$&")}:${port}.*rule own listener`));
      t.true(Date.now() - started < 2000, "refused, not dialled until the deadline");
    }
  }
  const short = await callError(gateway.apiAddress, NetworkServiceService.request, seedRequest(`nsmgr-2@127.1:${ports[0]}`));
  t.is(short.code, status.INVALID_ARGUMENT);
  t.is(gateway.guard.refusals().byRule.get("own listener"), ports.length * spellings.length * 2 - 1);
  await registry.server.stop();
});

test.serial("the public URL and the advertised address are own listeners too, by name", async t => {
  const [advertised, published] = [await freePort(), await freePort()];
  const gateway = await startTestGateway({ advertisedAddress: `localhost:${advertised}`, v1PublicUrl: `tcp://localhost:${published}` });
  // The published URL: only the guard knows it as ours.
  const published1 = await callError(gateway.apiAddress, NetworkServiceService.request, seedRequest(`nsmgr-2@localhost:${published}`));
  t.is(published1.code, status.PERMISSION_DENIED, published1.details);
  t.regex(published1.details, /public address/);
  // The advertised address: the seed's loop check answers first (FAILED_PRECONDITION) where it recognises the
  // spelling; any spelling it does not is the guard's (PERMISSION_DENIED). Never a dial.
  for (const written of [`localhost:${advertised}`, `LocalHost:${advertised}`]) {
    const error = await callError(gateway.apiAddress, NetworkServiceService.request, seedRequest(`nsmgr-2@${written}`));
    t.true(error.code === status.PERMISSION_DENIED || error.code === status.FAILED_PRECONDITION, `${written}: ${status[error.code]} ${error.details}`);
    t.regex(error.details, /public address|this proxy's own address/, written);
  }
});

test.serial("an allowlist is the only way out: a loopback NSMgr on an allowed port is reached, the same one on another port is refused", async t => {
  const allowed = await startFakeNsmgr({ name: "nsmgr-2" });
  const other = await startFakeNsmgr({ name: "nsmgr-3" });
  const gateway = await startTestGateway({ dialAllow: [`127.0.0.1:${portOf(allowed.address)}`] });
  const answer = await callUnary(gateway.apiAddress, NetworkServiceService.request, seedRequest(`nsmgr-2@${allowed.address}`));
  t.truthy(answer.id);
  t.is(allowed.requests.length, 1);
  const error = await callError(gateway.apiAddress, NetworkServiceService.request, seedRequest(`nsmgr-3@${other.address}`));
  t.is(error.code, status.PERMISSION_DENIED);
  t.regex(error.details, new RegExp(`${other.address}.*rule not in the allowlist`));
  t.is(other.requests.length, 0);
});

test.serial("a deny rule refuses what the allowlist would let through", async t => {
  const nsmgr = await startFakeNsmgr({ name: "nsmgr-2" });
  const gateway = await startTestGateway({ dialDeny: [`*:${portOf(nsmgr.address)}`] });
  const error = await callError(gateway.apiAddress, NetworkServiceService.request, seedRequest(`nsmgr-2@${nsmgr.address}`));
  t.is(error.code, status.PERMISSION_DENIED);
  t.regex(error.details, new RegExp(`rule deny "\\*:${portOf(nsmgr.address)}"`));
  t.is(nsmgr.requests.length, 0);
});

test.serial("DNS rebinding: the address the guard checked is the one dialled; when the name turns to a refused address the next call is refused", async t => {
  const port = await freePort();
  // 127.0.0.2 stands in for a public address (allowed); 127.0.0.1 for the target of the rebinding:
  // refused although the name itself is on the allowlist (a name rule does not lift the default deny).
  const good = await startFakeNsmgr({ name: "nsmgr-2", host: "127.0.0.2", port });
  const canary = await startFakeNsmgr({ name: "nsmgr-2", host: "127.0.0.1", port });
  const dns = await startFakeDns();
  dns.a("rebind.test", "127.0.0.2");
  const gateway = await startTestGateway({ dialAllow: ["127.0.0.2", "rebind.test"], dnsServer: dns.address, dnsCacheTtlMs: 0 });
  // rebind.test is unknown to the system resolver: the call can only succeed if the pinned IP is dialled.
  const answer = await callUnary(gateway.apiAddress, NetworkServiceService.request, seedRequest(`nsmgr-2@rebind.test:${port}`));
  t.truthy(answer.id);
  t.is(good.requests.length, 1);
  t.is(answer.path?.pathSegments[1]?.name, `nsmgr-2@rebind.test:${port}`);

  dns.remove("rebind.test").a("rebind.test", "127.0.0.1");
  const error = await callError(gateway.apiAddress, NetworkServiceService.request, seedRequest(`nsmgr-2@rebind.test:${port}`));
  t.is(error.code, status.PERMISSION_DENIED);
  t.regex(error.details, /rebind\.test resolves to 127\.0\.0\.1\).*rule default deny: loopback/);
  t.is(canary.requests.length, 0, "the rebound address was never dialled");
  t.is(good.requests.length, 1);
  t.true(dns.queries.filter(q => q === "A rebind.test").length >= 2, "the second call asked DNS again (cache off)");
});
