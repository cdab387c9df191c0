/**
 * NSM's default connection policies, with the SDK's own policy test cases ported
 * (sdk/pkg/tools/opa: tokens_chain_policy_test, prev_token_signed_policy_test,
 * tokens_expired_policy_test, all_tokens_valid_policy_test, service_connection_policy_test).
 */
import test from "ava";
import { generateKeyPairSync } from "node:crypto";
import { SignJWT } from "jose";
import { checkPolicy, firstFailedPolicy } from "../../../lib/identity/path-policies.js";
import { createConnectionOwners } from "../../../lib/identity/connection-owners.js";
import { createRegistrationOwners, registrantOf } from "../../../lib/identity/registration-owners.js";

const SECRET = new TextEncoder().encode("super secret");
/** genJWTWithClaims: HS256, as the SDK's tests sign them (the policies never check that signature). */
const jwt = (claims: Record<string, unknown>) => new SignJWT(claims).setProtectedHeader({ alg: "HS256", typ: "JWT" }).sign(SECRET);
const withYear = (year: number) => jwt({ exp: Math.floor(Date.UTC(year, 0, 1, 1, 1, 1) / 1000) });
const thisYear = new Date().getUTCFullYear();

test("tokens_chained: the SDK's valid and invalid chains", async t => {
  const valid = [await jwt({ sub: "nsc", aud: ["nsmgr1"] }), await jwt({ sub: "nsmgr1", aud: ["nsmgr2"] }), await jwt({ sub: "nsmgr2", aud: ["nse"] })];
  t.true(await checkPolicy("tokens_chained", { index: 2, tokens: valid }), "Valid chain");
  const invalid = [await jwt({ sub: "nsc", aud: ["nsmgr1"] }), await jwt({ sub: "nsmgr1", aud: ["nsmgr2"] }), await jwt({ sub: "spy", aud: ["nse"] }), await jwt({ sub: "nse" })];
  t.false(await checkPolicy("tokens_chained", { index: 3, tokens: invalid }), "Invalid chain");
  t.true(await checkPolicy("tokens_chained", { index: 0, tokens: [await jwt({ sub: "alone" })] }), "fewer than two segments");
  t.false(await checkPolicy("tokens_chained", { index: 1, tokens: [await jwt({ sub: "a" }), await jwt({ sub: "b" })] }), "no aud");
});

test("prev_token_signed: the previous token verifies with the caller's certificate key, not another", async t => {
  const caller = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const ca = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const token = await new SignJWT({}).setProtectedHeader({ alg: "ES256" }).sign(caller.privateKey);
  const sample = { index: 1, tokens: [token, ""] };
  t.true(await checkPolicy("prev_token_signed", { ...sample, peerKey: caller.publicKey }));
  t.false(await checkPolicy("prev_token_signed", { ...sample, peerKey: ca.publicKey }), "signed by someone else");
  t.false(await checkPolicy("prev_token_signed", sample), "no mTLS caller");
  t.false(await checkPolicy("prev_token_signed", { index: 0, tokens: [token], peerKey: caller.publicKey }), "no previous segment");
  const hs = await jwt({});
  t.false(await checkPolicy("prev_token_signed", { index: 1, tokens: [hs, ""], peerKey: caller.publicKey }), "an HS256 token is no ES256 signature");
});

test("tokens_expired: one future token, two future tokens, one expired among them", async t => {
  t.true(await checkPolicy("tokens_expired", { index: 0, tokens: [await withYear(thisYear + 1)] }), "simple positive test with one token");
  t.true(await checkPolicy("tokens_expired", { index: 1, tokens: [await withYear(thisYear + 1), await withYear(thisYear + 1)] }), "positive test with two tokens");
  t.false(await checkPolicy("tokens_expired", { index: 1, tokens: [await withYear(thisYear + 1), await withYear(thisYear - 1)] }), "negative test with expired/not expired tokens");
  t.false(await checkPolicy("tokens_expired", { index: 0, tokens: [await jwt({ sub: "no-exp" })] }), "no exp is not alive");
});

test("tokens_valid: every token decodes; 'my token' does not", async t => {
  const good = await withYear(thisYear + 10);
  t.true(await checkPolicy("tokens_valid", { index: 2, tokens: [good, good, good] }));
  t.false(await checkPolicy("tokens_valid", { index: 2, tokens: [good, "my token", good] }));
  t.true(await checkPolicy("tokens_valid", { index: 0, tokens: [] }), "an empty path is valid");
});

test("the server's policies in the SDK's order: the first failure is named", async t => {
  const caller = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const exp = Math.floor(Date.now() / 1000) + 600;
  const prev = await new SignJWT({ sub: "spiffe://a/fwd", aud: ["spiffe://a/proxy"], exp }).setProtectedHeader({ alg: "ES256" }).sign(caller.privateKey);
  const ours = await jwt({ sub: "spiffe://a/proxy", aud: ["spiffe://a/fwd"], exp });
  t.is(await firstFailedPolicy({ index: 1, tokens: [prev, ours], peerKey: caller.publicKey }), undefined);
  t.is(await firstFailedPolicy({ index: 1, tokens: [prev, ours] }), "prev_token_signed");
  const stale = await new SignJWT({ sub: "spiffe://a/fwd", aud: ["spiffe://a/proxy"], exp: 1000 }).setProtectedHeader({ alg: "ES256" }).sign(caller.privateKey);
  t.is(await firstFailedPolicy({ index: 1, tokens: [stale, ours], peerKey: caller.publicKey }), "tokens_expired");
  const wrongAud = await new SignJWT({ sub: "spiffe://a/fwd", aud: ["spiffe://a/other"], exp }).setProtectedHeader({ alg: "ES256" }).sign(caller.privateKey);
  t.is(await firstFailedPolicy({ index: 1, tokens: [wrongAud, ours], peerKey: caller.publicKey }), "tokens_chained");
});

test("service_connection: the caller may monitor only connections it asked for", t => {
  const owners = createConnectionOwners();
  const spiffeId = "spiffe://test.com/workload";
  owners.add(spiffeId, "conn1");
  t.true(owners.ownsAny(spiffeId, ["conn1"]));
  const other = createConnectionOwners();
  other.add(spiffeId, "conn2");
  t.false(other.ownsAny(spiffeId, ["conn1"]), "the SDK's invalid input");
  t.false(owners.ownsAny(spiffeId, []), "a selector without ids");
  owners.remove(spiffeId, "conn1");
  t.false(owners.ownsAny(spiffeId, ["conn1"]), "forgotten on Close");
  owners.add(spiffeId, "conn3");
  owners.forgetCaller(spiffeId);
  t.false(owners.ownsAny(spiffeId, ["conn3"]), "forgotten after a failed Request");
});

test("client_allowed (registry): the SDK's samples; the registrant is the first path segment's sub", async t => {
  const owners = createRegistrationOwners();
  owners.registered("nse1", ["id1", "id2"]);
  t.true(owners.allowed("nse1", "id1"));
  t.false(owners.allowed("nse1", "id3"));
  t.true(owners.allowed("nse3", "id1"), "an unknown name is free");
  owners.unregistered("nse1");
  t.true(owners.allowed("nse1", "id3"), "free again after Unregister");
  const path = JSON.stringify({ Index: 1, PathSegments: [{ token: await jwt({ sub: "spiffe://a/nse" }) }, { token: await jwt({ sub: "spiffe://a/registry" }) }] });
  t.is(registrantOf(path), "spiffe://a/nse");
  t.is(registrantOf(undefined), "");
  t.is(registrantOf("not json"), "");
});
