/**
 * The real-SPIRE fixture (spec/support/spire.ts) itself: two federated trust domains come up, their
 * agents serve SVIDs with the other domain's bundle, SVIDs rotate within a test, and an unfederated third
 * domain is trusted by nobody. Checked through `spire-agent api fetch x509`, i.e. the Workload API.
 */
import test from "ava";
import { X509Certificate } from "node:crypto";
import { type Spire, spireAgentSelectors, startSpire } from "../../support/spire.js";

let spire: Spire | undefined;
let startMs = 0;

test.before(async () => {
  const started = Date.now();
  spire = await startSpire();
  startMs = Date.now() - started;
});

test.after.always(async () => {
  await spire?.stop();
});

function running(): Spire {
  if (!spire) throw new Error("SPIRE not started");
  return spire;
}

/** The CA certificates of `trustDomain` as X509Certificate objects. */
async function caOf(s: Spire, trustDomain: string): Promise<X509Certificate[]> {
  const pem = await s.domain(trustDomain).bundlePem();
  return (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map(block => new X509Certificate(block));
}

test.serial("two federated trust domains start within a few seconds", t => {
  const s = running();
  t.deepEqual(s.domains().map(d => d.trustDomain).sort(), ["cluster1.test", "cluster2.test"]);
  t.true(s.domain("cluster1.test").federatedWith.has("cluster2.test"));
  t.true(s.domain("cluster2.test").federatedWith.has("cluster1.test"));
  t.log(`SPIRE (2 servers, 2 agents, federation) started in ${startMs} ms`);
  t.true(startMs < 20_000, `start took ${startMs} ms`);
});

for (const [own, other] of [["cluster1.test", "cluster2.test"], ["cluster2.test", "cluster1.test"]] as const) {
  test.serial(`${own}: the agent serves an SVID chained to its own CA, with ${other}'s bundle federated`, async t => {
    const s = running();
    const spiffeId = `spiffe://${own}/fixture-check`;
    await s.createEntry({ trustDomain: own, spiffeId, selectors: spireAgentSelectors(s.binDir) });
    const fetched = await s.fetchX509(own);
    const svid = fetched.svids.find(x => x.spiffeId === spiffeId);
    if (!svid) return t.fail(`no SVID ${spiffeId} in ${fetched.svids.map(x => x.spiffeId).join(", ")}`);

    const leaf = new X509Certificate(svid.certificates[0] ?? Buffer.alloc(0));
    t.is(leaf.subjectAltName, `URI:${spiffeId}`);
    const ownCa = await caOf(s, own);
    t.true(ownCa.some(ca => leaf.checkIssued(ca) && leaf.verify(ca.publicKey)), "leaf signed by the domain's CA");
    t.deepEqual(svid.bundle.map(der => new X509Certificate(der).fingerprint256).sort(), ownCa.map(ca => ca.fingerprint256).sort());

    const federated = fetched.federatedBundles.get(`spiffe://${other}`);
    if (!federated) return t.fail(`no federated bundle for ${other}: ${[...fetched.federatedBundles.keys()].join(", ")}`);
    const otherCa = await caOf(s, other);
    t.deepEqual(federated.map(der => new X509Certificate(der).fingerprint256).sort(), otherCa.map(ca => ca.fingerprint256).sort());
    t.false(otherCa.some(ca => leaf.checkIssued(ca) && leaf.verify(ca.publicKey)), "the other domain's CA did not sign it");
  });
}

test.serial("an entry for another binary is waited for through a marker entry", async t => {
  const s = running();
  // Selected by a binary that never calls the agent: the fixture must still know when it has been minted.
  const entry = await s.createEntry({ trustDomain: "cluster1.test", spiffeId: "spiffe://cluster1.test/other-binary", selectors: ["unix:path:/nonexistent/binary"] });
  t.is(entry.spiffeId, "spiffe://cluster1.test/other-binary");
  const fetched = await s.fetchX509("cluster1.test");
  t.false(fetched.svids.some(x => x.spiffeId === entry.spiffeId), "the CLI is not that binary");
  t.true(fetched.svids.some(x => x.spiffeId.startsWith("spiffe://cluster1.test/fixture/sync-marker-")));
});

test.serial("a short-lived SVID rotates within a test", async t => {
  const s = running();
  const spiffeId = "spiffe://cluster2.test/short-lived";
  await s.createEntry({ trustDomain: "cluster2.test", spiffeId, selectors: spireAgentSelectors(s.binDir), x509SvidTtl: 6 });
  const serial = async () => {
    const svid = (await s.fetchX509("cluster2.test")).svids.find(x => x.spiffeId === spiffeId);
    return svid ? new X509Certificate(svid.certificates[0] ?? Buffer.alloc(0)) : undefined;
  };
  const first = await serial();
  if (!first) return t.fail("no short-lived SVID");
  // SPIRE backdates notBefore by 10 s against clock skew; notAfter is issue time + TTL.
  const lifetimeMs = Date.parse(first.validTo) - Date.parse(first.validFrom);
  t.log(`SVID lifetime (notBefore..notAfter) ${lifetimeMs} ms`);
  t.true(lifetimeMs <= 6_000 + 11_000, `lifetime ${lifetimeMs} ms`);
  t.true(Date.parse(first.validTo) - Date.now() <= 7_000, "expires within the entry's TTL");
  const deadline = Date.now() + 15_000;
  let next = first;
  while (next.serialNumber === first.serialNumber && Date.now() < deadline) {
    await new Promise(resolve => setTimeout(resolve, 500));
    next = (await serial()) ?? next;
  }
  t.not(next.serialNumber, first.serialNumber, "a new SVID within 15 s");
  t.log(`rotated after ${Date.now() - (deadline - 15_000)} ms of waiting`);
  // validTo has whole seconds: an SVID re-issued within a second of the first (a CI run saw a new one
  // after 1.1 s) can show the same expiry.
  t.true(Date.parse(next.validTo) >= Date.parse(first.validTo), "the new SVID expires no earlier");
});

test.serial("an unfederated third domain is trusted by neither of the others", async t => {
  const s = running();
  const lone = await s.addDomain("cluster3.test", { federate: false });
  t.is(lone.federatedWith.size, 0);
  const spiffeId = "spiffe://cluster3.test/stranger";
  await s.createEntry({ trustDomain: "cluster3.test", spiffeId, selectors: spireAgentSelectors(s.binDir) });
  const fetched = await s.fetchX509("cluster3.test");
  t.true(fetched.svids.some(x => x.spiffeId === spiffeId));
  t.is(fetched.federatedBundles.size, 0);
  const one = await s.fetchX509("cluster1.test");
  t.false(one.federatedBundles.has("spiffe://cluster3.test"));
  t.false(s.domain("cluster1.test").federatedWith.has("cluster3.test"));
});
