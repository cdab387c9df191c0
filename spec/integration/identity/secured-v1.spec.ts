/**
 * Secured mode against real SPIRE (two federated trust domains, a third one unfederated): pnsmgr's
 * v1 listener serves mTLS with its SVID, a caller of the other domain dials it with its own, the next
 * hop (a stand-in NSMgr on mTLS) gets pnsmgr's ES256 token naming it as `aud` and signed with the key
 * of the certificate it sees. Refused: a plaintext client, an SVID of an unfederated domain, a peer
 * PNSMGR_TLS_AUTHORIZE does not list, and forged, expired, wrong-`aud`, unchained tokens (nothing
 * reaches the next hop). Rotation: new handshakes and tokens use the new SVID, streams stay up.
 */
import test from "ava";
import { X509Certificate, generateKeyPairSync } from "node:crypto";
import { Client, type ServiceError, credentials, status } from "@grpc/grpc-js";
import { SignJWT } from "jose";
import { type Spire, nodeSelectors, startSpire } from "../../support/spire.js";
import { type SpiffeWorkload, startSpiffeWorkload } from "../../support/spiffe-workload.js";
import { type FakeV1Nsmgr, startFakeV1Nsmgr } from "../../support/fake-v1-nsmgr.js";
import { type FakeV1Registry, startFakeV1Registry } from "../../support/fake-v1-registry.js";
import { NetworkServiceEndpointRegistryService } from "../../../generated/nsm/registry.js";
import { startTestGateway, stopGateways } from "../../support/gateway.js";
import { callUnary, closeAll, openServerStream } from "../../support/grpc.js";
import { waitFor } from "../../support/wait.js";
import type { Gateway } from "../../../lib/gateway.js";
import { verifyJwt, decodeJwt } from "../../../lib/tokens/jwt.js";
import { formatRfc3339Nano } from "../../../lib/tokens/time.js";
import { NetworkServiceService, type NetworkServiceRequest } from "../../../generated/nsm/networkservice.js";
import { ConnectionEventType, MonitorConnectionService, State, type Connection } from "../../../generated/nsm/connection.js";
import { HealthService, HealthCheckResponse_ServingStatus } from "../../../generated/nsm/health.js";
import { segment } from "../../support/wire.js";

const GATEWAY_ID = "spiffe://cluster1.test/pnsmgr";
const PEER_ID = "spiffe://cluster2.test/peer";

let spire: Spire;
let peer: SpiffeWorkload;
let intruder: SpiffeWorkload;
let nsmgr: FakeV1Nsmgr;
let gateway: Gateway;
let registry: FakeV1Registry;
const seen: { sub?: string; aud?: unknown; keySerial: string }[] = [];

test.before(async t => {
  t.timeout(120_000);
  spire = await startSpire();
  await spire.createEntry({ trustDomain: "cluster1.test", spiffeId: GATEWAY_ID, selectors: nodeSelectors(), x509SvidTtl: 20 });
  await spire.createEntry({ trustDomain: "cluster2.test", spiffeId: PEER_ID, selectors: nodeSelectors() });
  await spire.addDomain("cluster3.test", { federate: false });
  await spire.createEntry({ trustDomain: "cluster3.test", spiffeId: "spiffe://cluster3.test/intruder", selectors: nodeSelectors() });
  peer = await startSpiffeWorkload(spire.domain("cluster2.test").endpointSocket);
  intruder = await startSpiffeWorkload(spire.domain("cluster3.test").endpointSocket);
  nsmgr = await startFakeV1Nsmgr({
    name: "nsmgr-2",
    endpoints: ["nse"],
    behind: ["nse"],
    credentials: peer.serverCredentials,
    // What the SDK's authorize server does with the token: it must verify with the caller's certificate key.
    async checkToken(token, call) {
      const raw = call.getAuthContext().sslPeerCertificate?.raw;
      if (!raw) throw new Error("no caller certificate");
      const cert = new X509Certificate(raw);
      const claims = await verifyJwt(token, cert.publicKey);
      seen.push({ sub: claims.sub, aud: claims.aud, keySerial: cert.serialNumber });
    },
  });
  registry = await startFakeV1Registry(peer.serverCredentials);
  gateway = await startTestGateway({ name: "proxy-1", spiffeEndpointSocket: spire.domain("cluster1.test").endpointSocket, registryUrl: `tcp://${registry.address}` });
  await gateway.routes.set("nse", nsmgr.url);
});

test.after.always(async () => {
  // The gateway first: closeAll's tryShutdown of the fake nsmgr waits for the gateway's open streams.
  await stopGateways();
  await closeAll();
  peer?.close();
  intruder?.close();
  await nsmgr?.server.stop();
  await registry?.stop();
  await spire?.stop();
});

const exp = (inSeconds = 600) => Math.floor(Date.now() / 1000) + inSeconds;
const randomKey = () => generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
const sign = (claims: Record<string, unknown>, key: Parameters<SignJWT["sign"]>[0]) => new SignJWT(claims).setProtectedHeader({ alg: "ES256", typ: "JWT" }).sign(key);

interface Tokens {
  /** The caller's metadata token. */
  caller?: string;
  /** The token of the hop before the caller (its aud must name the caller's sub). */
  nsmgr?: string;
}

async function validTokens(): Promise<Required<Tokens>> {
  return {
    caller: await sign({ sub: PEER_ID, aud: [GATEWAY_ID], exp: exp() }, peer.source.svid().privateKey),
    nsmgr: await sign({ sub: "spiffe://cluster2.test/nsmgr-1", aud: [PEER_ID], exp: exp() }, randomKey()),
  };
}

let counter = 0;
async function request(tokens: Tokens, id = `fwd-${++counter}`): Promise<{ req: NetworkServiceRequest; metadata: Record<string, string> }> {
  const nsc = await sign({ sub: "spiffe://cluster2.test/nsc", aud: ["spiffe://cluster2.test/nsmgr-1"], exp: exp() }, randomKey());
  const req: NetworkServiceRequest = {
    connection: {
      id,
      networkService: "ns",
      mechanism: undefined,
      context: undefined,
      labels: {},
      path: { index: 2, pathSegments: [segment("nsc", `nsc-${id}`, nsc), segment("nsmgr-1", `nsmgr-${id}`, tokens.nsmgr ?? ""), segment("fwd-1", id)] },
      networkServiceEndpointName: "nse",
      payload: "ETHERNET",
      state: 0,
    },
    mechanismPreferences: [{ cls: "REMOTE", type: "VXLAN", parameters: { src_ip: "10.1.0.5" } }],
  };
  const metadata = tokens.caller ? { "nsm-client-token": tokens.caller, "nsm-client-token-expires": formatRfc3339Nano(Date.now() + 600_000) } : ({} as Record<string, string>);
  return { req, metadata };
}

test.serial("a Request over mTLS: the next hop gets pnsmgr's ES256 token (sub = pnsmgr, aud = the next hop) signed with the key it sees; monitor and Close pass the policies", async t => {
  t.timeout(60_000);
  const client = peer.client(gateway.v1Address);
  const { req, metadata } = await request(await validTokens());
  const before = seen.length;
  const answer = await callUnary(gateway.v1Address, NetworkServiceService.request, req, { client, metadata });
  t.is(answer.id, req.connection!.id, "back in the caller's frame");
  const atNsmgr = nsmgr.requests.at(-1)!;
  const own = atNsmgr.message.connection!.path!.pathSegments[3]!;
  t.is(own.name, "proxy-1");
  t.is(decodeJwt(own.token).header.alg, "ES256");
  t.is(decodeJwt(own.token).claims.sub, GATEWAY_ID);
  t.deepEqual(decodeJwt(own.token).claims.aud, [PEER_ID], "our segment names the caller, as the SDK's updatetoken server does");
  t.is(atNsmgr.message.connection!.path!.pathSegments[2]!.token, metadata["nsm-client-token"] ?? "missing", "the caller's token in the previous segment");
  t.is(seen.length, before + 1, "the next hop verified the metadata token with pnsmgr's certificate");
  t.is(seen.at(-1)!.sub, GATEWAY_ID);
  t.deepEqual(seen.at(-1)!.aud, [PEER_ID], "the metadata token names the next hop it was sent to");

  const mine = openServerStream(gateway.v1Address, MonitorConnectionService.monitorConnections, { pathSegments: [segment("fwd-1", req.connection!.id)], networkServices: [] }, { client });
  t.is((await mine.next(5000)).type, ConnectionEventType.INITIAL_STATE_TRANSFER, "the caller may monitor its own connection");
  mine.cancel();
  const other = openServerStream(gateway.v1Address, MonitorConnectionService.monitorConnections, { pathSegments: [segment("fwd-1", "someone-elses")], networkServices: [] }, { client });
  const refused = await other.status;
  t.is(refused.code, status.PERMISSION_DENIED);
  t.regex(refused.details, /service_connection/);

  const closeTokens = await validTokens();
  await callUnary(gateway.v1Address, NetworkServiceService.close, { ...answer, path: { ...answer.path!, pathSegments: answer.path!.pathSegments.map((s, i) => (i === 1 ? { ...s, token: closeTokens.nsmgr } : s)) } } as Connection, {
    client,
    metadata: { "nsm-client-token": closeTokens.caller, "nsm-client-token-expires": formatRfc3339Nano(Date.now() + 600_000) },
  });
  t.is(nsmgr.closes.length, 1);
});

test.serial("forged, expired, wrong-aud and unchained tokens are PERMISSION_DENIED naming the policy; nothing reaches the next hop", async t => {
  t.timeout(60_000);
  const client = peer.client(gateway.v1Address);
  const valid = await validTokens();
  const cases: [string, Tokens, RegExp][] = [
    ["forged (signed by another key)", { ...valid, caller: await sign({ sub: PEER_ID, aud: [GATEWAY_ID], exp: exp() }, randomKey()) }, /prev_token_signed/],
    ["expired", { ...valid, caller: await sign({ sub: PEER_ID, aud: [GATEWAY_ID], exp: exp(-60) }, peer.source.svid().privateKey) }, /tokens_expired/],
    ["wrong aud", { ...valid, caller: await sign({ sub: PEER_ID, aud: ["spiffe://cluster1.test/someone-else"], exp: exp() }, peer.source.svid().privateKey) }, /tokens_chained/],
    ["unchained (the hop before names another)", { ...valid, nsmgr: await sign({ sub: "spiffe://cluster2.test/nsmgr-1", aud: ["spiffe://cluster2.test/elsewhere"], exp: exp() }, randomKey()) }, /tokens_chained/],
    ["no token at all", { nsmgr: valid.nsmgr }, /tokens_/],
  ];
  const requestsBefore = nsmgr.requests.length;
  for (const [name, tokens, policy] of cases) {
    const { req, metadata } = await request(tokens);
    const error = await callUnary(gateway.v1Address, NetworkServiceService.request, req, { client, metadata }).then(
      () => undefined,
      (e: ServiceError) => e,
    );
    t.is(error?.code, status.PERMISSION_DENIED, name);
    t.regex(error?.details ?? "", policy, name);
  }
  t.is(nsmgr.requests.length, requestsBefore, "no refused Request reached the next hop");
  const refusals = gateway.spiffe!.identity.refusals.snapshot();
  t.true((refusals.get("prev_token_signed") ?? 0) >= 1 && (refusals.get("tokens_chained") ?? 0) >= 2 && (refusals.get("tokens_expired") ?? 0) >= 1, JSON.stringify([...refusals]));
});

test.serial("a refresh refused by policy: PERMISSION_DENIED, and the connection's DOWN is recorded as refused_by_policy, seen by proxy-1, naming the policy", async t => {
  t.timeout(60_000);
  const client = peer.client(gateway.v1Address);
  const { req, metadata } = await request(await validTokens());
  const answer = await callUnary(gateway.v1Address, NetworkServiceService.request, req, { client, metadata });
  const ours = answer.path!.pathSegments[3]!.id;
  const valid = await validTokens();
  const forged = await sign({ sub: PEER_ID, aud: [GATEWAY_ID], exp: exp() }, randomKey());
  const refresh: NetworkServiceRequest = {
    ...req,
    connection: { ...answer, path: { ...answer.path!, pathSegments: answer.path!.pathSegments.map((s, i) => (i === 1 ? { ...s, token: valid.nsmgr } : s)) } },
  };
  const error = await callUnary(gateway.v1Address, NetworkServiceService.request, refresh, {
    client,
    metadata: { "nsm-client-token": forged, "nsm-client-token-expires": formatRfc3339Nano(Date.now() + 600_000) },
  }).then(
    () => undefined,
    (e: ServiceError) => e,
  );
  t.is(error?.code, status.PERMISSION_DENIED);
  let down;
  for (let i = 0; i < 100 && !down; i++) {
    down = (await gateway.state.events.read({ connectionId: ours })).find(e => e.end);
    if (!down) await new Promise(r => setTimeout(r, 20));
  }
  t.is(down?.type, "UPDATE");
  t.is(down?.end?.reason, "refused_by_policy");
  t.is(down?.end?.hop, "proxy-1");
  t.regex(down?.end?.detail ?? "", /prev_token_signed/);
});

test.serial("handshake refusals: a plaintext client and an SVID of an unfederated trust domain never get a call through", async t => {
  t.timeout(30_000);
  const plain = new Client(gateway.v1Address, credentials.createInsecure());
  const plainError = await callUnary(gateway.v1Address, HealthService.check, { service: "" }, { client: plain, deadlineMs: 3000 }).then(() => undefined, (e: ServiceError) => e);
  t.is(plainError?.code, status.UNAVAILABLE, "plaintext: no HTTP/2 over a TLS listener");
  plain.close();

  // The intruder trusts pnsmgr's CA (so the refusal is pnsmgr's, not the intruder's own check).
  const gatewayBundle = gateway.spiffe!.source.current()!.bundles.byTrustDomain.get("cluster1.test")!.map(c => c.toString()).join("");
  const svid = intruder.source.svid();
  const sneaky = new Client(gateway.v1Address, credentials.createSsl(Buffer.from(gatewayBundle), Buffer.from(svid.keyPem), Buffer.from(svid.certPem), { checkServerIdentity: () => undefined }));
  const intruderError = await callUnary(gateway.v1Address, HealthService.check, { service: "" }, { client: sneaky, deadlineMs: 3000 }).then(() => undefined, (e: ServiceError) => e);
  t.is(intruderError?.code, status.UNAVAILABLE, `unfederated SVID: ${intruderError?.details}`);
  sneaky.close();

  const ok = await callUnary(gateway.v1Address, HealthService.check, { service: "" }, { client: peer.client(gateway.v1Address) });
  t.is(ok.status, HealthCheckResponse_ServingStatus.SERVING, "the federated peer gets through");
});

test.serial("PNSMGR_TLS_AUTHORIZE: a valid SVID of a domain not listed is PERMISSION_DENIED before any handler, counted", async t => {
  t.timeout(30_000);
  const strict = await startTestGateway({ name: "proxy-strict", spiffeEndpointSocket: spire.domain("cluster1.test").endpointSocket, tlsAuthorize: ["spiffe://cluster1.test"] });
  const error = await callUnary(strict.v1Address, HealthService.check, { service: "" }, { client: peer.client(strict.v1Address) }).then(() => undefined, (e: ServiceError) => e);
  t.is(error?.code, status.PERMISSION_DENIED);
  t.regex(error?.details ?? "", /spiffe:\/\/cluster2\.test\/peer is not an authorized peer/);
  t.is(strict.spiffe!.identity.refusals.snapshot().get("mtls"), 1);
});

test.serial("rotation: a new SVID is used for new handshakes and new tokens without a restart; a stream opened before stays up", async t => {
  t.timeout(90_000);
  const client = peer.client(gateway.v1Address);
  const { req, metadata } = await request(await validTokens());
  const answer = await callUnary(gateway.v1Address, NetworkServiceService.request, req, { client, metadata });
  const stream = openServerStream(gateway.v1Address, MonitorConnectionService.monitorConnections, { pathSegments: [segment("fwd-1", answer.id)], networkServices: [] }, { client });
  await stream.next(5000);
  const before = gateway.spiffe!.source.svid().chain[0]!.serialNumber;
  await waitFor(() => gateway.spiffe!.source.svid().chain[0]!.serialNumber !== before, 40_000, "SPIRE rotates pnsmgr's 20 s SVID");
  const after = gateway.spiffe!.source.svid().chain[0]!.serialNumber;

  const fresh = new Client(gateway.v1Address, credentials.createSsl(Buffer.from(peer.source.current()!.bundles.pem), Buffer.from(peer.source.svid().keyPem), Buffer.from(peer.source.svid().certPem), {
    checkServerIdentity: (_host, cert) => (new X509Certificate(cert.raw).serialNumber === after ? undefined : new Error(`old certificate ${new X509Certificate(cert.raw).serialNumber}`)),
  }));
  const health = await callUnary(gateway.v1Address, HealthService.check, { service: "" }, { client: fresh });
  t.is(health.status, HealthCheckResponse_ServingStatus.SERVING, "a new handshake presents the rotated SVID");
  fresh.close();

  const second = await request(await validTokens());
  await callUnary(gateway.v1Address, NetworkServiceService.request, second.req, { client, metadata: second.metadata });
  t.is(seen.at(-1)!.keySerial, after, "the next hop sees the new certificate and the token verifies with its key");

  const ownId = nsmgr.requests.find(r => r.message.connection?.id === answer.path!.pathSegments[3]!.id)?.message.connection?.id;
  const nsmgrId = [...nsmgr.connections.keys()].find(id => nsmgr.connections.get(id)?.path?.pathSegments[3]?.id === ownId);
  if (!nsmgrId) return t.fail("the first connection is not at the next hop");
  nsmgr.connectionDown(nsmgrId);
  const event = await stream.next(5000);
  t.is(Object.values(event.connections)[0]?.state, State.DOWN, "the stream opened before the rotation still delivers");
});

test.serial("registry over mTLS: client_allowed keeps a name to the identity that registered it", async t => {
  t.timeout(30_000);
  const client = peer.client(gateway.v1Address);
  const pathOf = async (sub: string) => ({ path: JSON.stringify({ Index: 0, PathSegments: [{ token: await sign({ sub, exp: exp() }, randomKey()) }] }) });
  const nse = { name: "nse-owned", networkServiceNames: ["ns"], networkServiceLabels: {}, url: "tcp://10.2.0.7:5001", expirationTime: undefined, initialRegistrationTime: undefined, pathIds: [] };
  await callUnary(gateway.v1Address, NetworkServiceEndpointRegistryService.register, nse, { client, metadata: await pathOf("spiffe://cluster2.test/nse") });
  t.is(registry.callsOf("nse.register").length, 1, "the local registry (NSM_REGISTRY_URL, over mTLS) got it");
  t.truthy(registry.callsOf("nse.register")[0]!.metadata["nsm-client-token"], "with pnsmgr's token");
  const error = await callUnary(gateway.v1Address, NetworkServiceEndpointRegistryService.register, nse, { client, metadata: await pathOf("spiffe://cluster2.test/squatter") }).then(
    () => undefined,
    (e: ServiceError) => e,
  );
  t.is(error?.code, status.PERMISSION_DENIED);
  t.regex(error?.details ?? "", /client_allowed/);
  t.is(registry.callsOf("nse.register").length, 1, "nothing reached the registry");
  await callUnary(gateway.v1Address, NetworkServiceEndpointRegistryService.register, nse, { client, metadata: await pathOf("spiffe://cluster2.test/nse") });
  t.is(registry.callsOf("nse.register").length, 2, "the owner may refresh");
});

test.serial("tokens are made afresh on every refresh: with a 2 s NSM_MAX_TOKEN_LIFETIME the next hop always holds an unexpired one (sdk#1466)", async t => {
  t.timeout(30_000);
  const short = await startTestGateway({ name: "proxy-short", spiffeEndpointSocket: spire.domain("cluster1.test").endpointSocket, maxTokenLifetimeMs: 2000 });
  await short.routes.set("nse", nsmgr.url);
  const client = peer.client(short.v1Address);
  const first = await request({ ...(await validTokens()), caller: await sign({ sub: PEER_ID, aud: [GATEWAY_ID], exp: exp() }, peer.source.svid().privateKey) });
  let conn = await callUnary(short.v1Address, NetworkServiceService.request, first.req, { client, metadata: first.metadata });
  const exps: number[] = [];
  for (let i = 0; i < 5; i++) {
    await new Promise(resolve => setTimeout(resolve, 700));
    const tokens = await validTokens();
    const segments = conn.path!.pathSegments.map((s, at) => (at === 1 ? { ...s, token: tokens.nsmgr } : s));
    conn = await callUnary(short.v1Address, NetworkServiceService.request, { ...first.req, connection: { ...conn, path: { ...conn.path!, pathSegments: segments } } }, {
      client,
      metadata: { "nsm-client-token": tokens.caller, "nsm-client-token-expires": formatRfc3339Nano(Date.now() + 600_000) },
    });
    const own = nsmgr.requests.at(-1)!.metadata.get("nsm-client-token") ?? "";
    const claimed = decodeJwt(own).claims.exp ?? 0;
    t.true(claimed * 1000 > Date.now(), `refresh ${i}: the next hop's token is still valid`);
    t.true(claimed * 1000 <= Date.now() + 2000, `refresh ${i}: within the 2 s lifetime`);
    exps.push(claimed);
  }
  t.true(exps.at(-1)! > exps[0]!, "every refresh moved the expiry on");
  t.is(nsmgr.closes.filter(c => c.message.id === nsmgr.requests.at(-1)!.message.connection?.id).length, 0, "nothing closed the connection");
});

test.serial("PNSMGR_V0_TLS=on: the seed listeners serve mTLS too; off (the default) they stay plaintext as the seed's were", async t => {
  t.timeout(30_000);
  const plainClient = (address: string) => new Client(address, credentials.createInsecure());
  const check = (address: string, client: Client) =>
    callUnary(address, HealthService.check, { service: "" }, { client, deadlineMs: 3000 }).then(
      answer => answer.status,
      (error: ServiceError) => error.code,
    );
  const seedPlain = plainClient(gateway.apiAddress);
  t.is(await check(gateway.apiAddress, seedPlain), HealthCheckResponse_ServingStatus.SERVING, "default: the seed listener is plaintext");
  seedPlain.close();
  const v0 = await startTestGateway({ name: "proxy-v0tls", spiffeEndpointSocket: spire.domain("cluster1.test").endpointSocket, v0Tls: true });
  for (const address of [v0.apiAddress, v0.registryAddress]) {
    const plain = plainClient(address);
    t.is(await check(address, plain), status.UNAVAILABLE, `${address}: no plaintext with PNSMGR_V0_TLS=on`);
    plain.close();
    t.is(await check(address, peer.client(address)), HealthCheckResponse_ServingStatus.SERVING, `${address}: a federated SVID gets through`);
  }
});
