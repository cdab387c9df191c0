/** Path tokens: sandbox HS256, SPIFFE-style ES256, JWT decoding/verification and expiry text. */
import test from "ava";
import { generateKeyPairSync } from "node:crypto";
import { SANDBOX_SECRET, SANDBOX_SUBJECT, createHs256TokenGenerator } from "../../../lib/tokens/hs256.js";
import { createEs256TokenGenerator } from "../../../lib/tokens/es256.js";
import { decodeJwt, signJwt, verifyJwt } from "../../../lib/tokens/jwt.js";
import { formatRfc3339Nano, parseRfc3339, timestampMs, toTimestamp } from "../../../lib/tokens/time.js";

const NOW = Date.UTC(2030, 0, 2, 3, 4, 5, 678);

test("HS256 like the SDK sandbox: alg, sub, exp, the shared secret, no aud", async t => {
  const issued = await createHs256TokenGenerator({ lifetimeMs: 600_000, now: () => NOW }).issue();
  t.is(issued.expires, NOW + 600_000);
  const jwt = decodeJwt(issued.token);
  t.deepEqual(jwt.header, { alg: "HS256", typ: "JWT" });
  t.deepEqual(jwt.claims, { sub: SANDBOX_SUBJECT, exp: Math.floor((NOW + 600_000) / 1000) });
  t.deepEqual(await verifyJwt(issued.token, SANDBOX_SECRET, { now: NOW }), jwt.claims);
  await t.throwsAsync(verifyJwt(issued.token, "other-secret", { now: NOW }), { message: /signature/ });
  await t.throwsAsync(verifyJwt(issued.token, SANDBOX_SECRET, { now: NOW + 601_000 }), { message: /expired/ });
});

test("ES256: sub = own SPIFFE ID, aud = the peer's, exp = the earliest expiry, verifiable with the public key", async t => {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const svid = { spiffeId: "spiffe://cluster-1/proxy", privateKey, notAfter: NOW + 300_000 };
  const tokens = createEs256TokenGenerator({ lifetimeMs: 600_000, svid: () => svid, now: () => NOW });
  const toPeer = await tokens.issue({ spiffeId: "spiffe://cluster-2/proxy", notAfter: NOW + 120_000 });
  t.is(toPeer.expires, NOW + 120_000, "the peer's certificate expires first");
  const claims = await verifyJwt(toPeer.token, publicKey, { now: NOW });
  t.deepEqual(claims, { sub: "spiffe://cluster-1/proxy", exp: Math.floor((NOW + 120_000) / 1000), aud: ["spiffe://cluster-2/proxy"] });
  t.is(Buffer.from(toPeer.token.split(".")[2]!, "base64url").length, 64, "raw r||s signature as JWS wants");
  t.deepEqual(decodeJwt(toPeer.token).header, { alg: "ES256", typ: "JWT" });
  const anonymous = await tokens.issue();
  t.is(anonymous.expires, NOW + 300_000, "own certificate caps the lifetime");
  t.false("aud" in decodeJwt(anonymous.token).claims);
  const other = generateKeyPairSync("ec", { namedCurve: "P-256" });
  await t.throwsAsync(verifyJwt(toPeer.token, other.publicKey, { now: NOW }), { message: /signature/ });
});

test("decodeJwt refuses what is not a JWT; verify refuses a key of the wrong kind", async t => {
  t.throws(() => decodeJwt("a.b"), { message: /three/ });
  t.throws(() => decodeJwt("!!.e30.x"), { message: /header/ });
  const hs = await signJwt({ sub: "x" }, "HS256", "k");
  const { publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  await t.throwsAsync(verifyJwt(hs, publicKey), { message: /does not match/ });
});

test("RFC 3339 text as Go writes and reads it", t => {
  t.is(formatRfc3339Nano(NOW), "2030-01-02T03:04:05.678Z");
  t.is(formatRfc3339Nano(Date.UTC(2030, 0, 1)), "2030-01-01T00:00:00Z");
  t.is(formatRfc3339Nano(Date.UTC(2030, 0, 1, 0, 0, 0, 500)), "2030-01-01T00:00:00.5Z");
  t.is(parseRfc3339("2030-01-02T03:04:05.678Z"), NOW);
  t.is(parseRfc3339("2030-01-02T03:04:05.678912345Z"), NOW, "nanoseconds are cut to milliseconds");
  t.is(parseRfc3339("2030-01-02T05:04:05.678+02:00"), NOW, "offsets");
  t.is(parseRfc3339("2030-01-02T03:04:05Z"), NOW - 678);
  for (const bad of ["", "2030-01-02", "2030-01-02T03:04:05", "2030-13-02T03:04:05Z", "yesterday"]) t.is(parseRfc3339(bad), undefined, bad);
});

test("Timestamps round-trip epoch milliseconds", t => {
  t.deepEqual(toTimestamp(NOW), { seconds: String(Math.floor(NOW / 1000)), nanos: 678_000_000 });
  t.is(timestampMs(toTimestamp(NOW)), NOW);
  t.is(timestampMs(undefined), undefined);
  t.is(timestampMs({ seconds: "x", nanos: 0 }), undefined);
});
