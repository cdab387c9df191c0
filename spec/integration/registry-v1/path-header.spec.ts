/**
 * The registry `path` comes back to the registrant through the gateway, as NSM's registry chain
 * returns it: a stand-in next-hop registry that behaves like the SDK's (grpcmetadata + updatepath: it
 * adds its own segment and answers Register/Unregister with the path in a `path` response header) sits
 * behind the gateway as the local registry (plain names) and as a remote domain's registry (`@domain`
 * names, found by SRV). The caller gets the registry's path in its response header; a registry that
 * returns none leaves the caller its own path; Finds and calls without a path get no `path` header.
 */
import test from "ava";
import { Client, Metadata, type ServerUnaryCall, type ServerWritableStream, type StatusObject, type sendUnaryData, credentials, status } from "@grpc/grpc-js";
import {
  NetworkService,
  NetworkServiceEndpoint,
  NetworkServiceEndpointQuery,
  NetworkServiceEndpointRegistryService as NSE,
  type NetworkServiceEndpointResponse,
  NetworkServiceRegistryService as NS,
} from "../../../generated/nsm/registry.js";
import type { Empty } from "../../../generated/nsm/google/protobuf/empty.js";
import { closeAll, startTestServer } from "../../support/grpc.js";
import { startTestGateway, stopGateways } from "../../support/gateway.js";
import { closeFakeDns, startFakeDns } from "../../support/fake-dns.js";

test.afterEach.always(async () => {
  await stopGateways();
  await closeAll();
  await closeFakeDns();
});

interface Path {
  Index: number;
  PathSegments: { token: string }[];
}

/**
 * An SDK-like registry: on Register/Unregister it adds its own segment after the caller's (token
 * `registry-<name>`) and answers with the path in a `path` header, its Index back at the caller's (the
 * SDK's updatepath resets it). `silent`: an older registry that sends no header.
 */
async function startSdkLikeRegistry(name: string, silent = false) {
  const received: (string | undefined)[] = [];
  const answerPath = (call: ServerUnaryCall<unknown, unknown>) => {
    const text = call.metadata.get("path")[0] as string | undefined;
    received.push(text);
    if (text === undefined || silent) return;
    const path = JSON.parse(text) as Path;
    const extended: Path = { Index: path.Index, PathSegments: [...path.PathSegments.slice(0, path.Index + 1), { token: `registry-${name}` }] };
    const header = new Metadata();
    header.set("path", JSON.stringify(extended));
    call.sendMetadata(header);
  };
  const unary =
    <Req, Res>(answer: (req: Req) => Res) =>
    (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
      answerPath(call as ServerUnaryCall<unknown, unknown>);
      callback(null, answer(call.request));
    };
  const server = await startTestServer([
    [NS, { register: unary((ns: NetworkService) => ns), unregister: unary((): Empty => ({})) }],
    [
      NSE,
      {
        register: unary((nse: NetworkServiceEndpoint) => nse),
        unregister: unary((): Empty => ({})),
        find: (call: ServerWritableStream<NetworkServiceEndpointQuery, NetworkServiceEndpointResponse>) => {
          received.push(call.metadata.get("path")[0] as string | undefined);
          call.write({ networkServiceEndpoint: NetworkServiceEndpoint.fromPartial({ name: "nse-1", url: "tcp://10.0.0.1:5001" }), deleted: false });
          call.end();
        },
      },
    ],
  ]);
  return { ...server, received };
}

interface Answer {
  /** The `path` response header; undefined when none came. */
  path: string | undefined;
  code: number;
}

function answerOf(call: NodeJS.EventEmitter, resolve: (a: Answer) => void) {
  let path: string | undefined;
  call.on("metadata", (m: Metadata) => (path = m.get("path").at(-1) as string | undefined));
  call.on("data", () => undefined);
  call.on("error", () => undefined);
  call.on("status", (s: StatusObject) => resolve({ path, code: s.code }));
}

function unaryCall<Req>(client: Client, method: { path: string; requestSerialize: (r: Req) => Buffer; responseDeserialize: (b: Buffer) => unknown }, request: Req, path?: string): Promise<Answer> {
  const metadata = new Metadata();
  if (path !== undefined) metadata.set("path", path);
  return new Promise(resolve =>
    answerOf(client.makeUnaryRequest(method.path, method.requestSerialize, method.responseDeserialize, request, metadata, { deadline: Date.now() + 10_000 }, () => undefined), resolve),
  );
}

async function setUp(t: { teardown(f: () => void): void }, silent = false) {
  const local = await startSdkLikeRegistry("local", silent);
  const remote = await startSdkLikeRegistry("cluster2", silent);
  const dns = await startFakeDns();
  dns.srv("registry.nsm-system.cluster2.test", "registry.cluster2.test", remote.port).a("registry.cluster2.test", "127.0.0.1");
  const gateway = await startTestGateway({ dnsServer: dns.address, registryUrl: `tcp://${local.address}` });
  const client = new Client(gateway.v1Address, credentials.createInsecure());
  t.teardown(() => client.close());
  return { local, remote, client };
}

// The registrant's path after its own hop (nsmgr at index 1 of [nse, nsmgr]), as the SDK's grpcmetadata client sends it.
const sent: Path = { Index: 1, PathSegments: [{ token: "nse-token" }, { token: "nsmgr-token" }] };
const sentText = JSON.stringify(sent);
const extendedBy = (registry: string) => JSON.stringify({ Index: 1, PathSegments: [...sent.PathSegments, { token: `registry-${registry}` }] });

test.serial("Register and Unregister: the caller gets the path the registry returned, through the local and a remote domain's registry", async t => {
  const { local, remote, client } = await setUp(t);
  const plain = NetworkServiceEndpoint.fromPartial({ name: "nse-1", networkServiceNames: ["icmp"], url: "tcp://10.0.0.1:5001" });
  const remoteNse = NetworkServiceEndpoint.fromPartial({ name: "nse-2@cluster2.test", networkServiceNames: ["icmp@cluster2.test"], url: "tcp://10.0.0.1:5001" });

  t.deepEqual(await unaryCall(client, NSE.register, plain, sentText), { path: extendedBy("local"), code: status.OK });
  t.deepEqual(await unaryCall(client, NSE.unregister, plain, sentText), { path: extendedBy("local"), code: status.OK });
  t.deepEqual(await unaryCall(client, NSE.register, remoteNse, sentText), { path: extendedBy("cluster2"), code: status.OK });
  t.deepEqual(await unaryCall(client, NSE.unregister, remoteNse, sentText), { path: extendedBy("cluster2"), code: status.OK });
  t.deepEqual(await unaryCall(client, NS.register, NetworkService.fromPartial({ name: "icmp@cluster2.test" }), sentText), { path: extendedBy("cluster2"), code: status.OK });
  t.deepEqual(await unaryCall(client, NS.unregister, NetworkService.fromPartial({ name: "icmp" }), sentText), { path: extendedBy("local"), code: status.OK });
  t.deepEqual(local.received, [sentText, sentText, sentText], "the path went on to the registry as it came");
  t.deepEqual(remote.received, [sentText, sentText, sentText]);
});

test.serial("a registry that returns no path: the caller gets its own path back (what an SDK hop answers)", async t => {
  const { client } = await setUp(t, true);
  const plain = NetworkServiceEndpoint.fromPartial({ name: "nse-1", networkServiceNames: ["icmp"], url: "tcp://10.0.0.1:5001" });
  t.deepEqual(await unaryCall(client, NSE.register, plain, sentText), { path: sentText, code: status.OK });
});

test.serial("a call without a path, and a Find, get no path header", async t => {
  const { client } = await setUp(t);
  const plain = NetworkServiceEndpoint.fromPartial({ name: "nse-1", networkServiceNames: ["icmp"], url: "tcp://10.0.0.1:5001" });
  t.deepEqual(await unaryCall(client, NSE.register, plain), { path: undefined, code: status.OK });

  const query = NetworkServiceEndpointQuery.fromPartial({ networkServiceEndpoint: { name: "nse-1" }, watch: false });
  const metadata = new Metadata();
  metadata.set("path", sentText);
  const find = await new Promise<Answer>(resolve =>
    answerOf(client.makeServerStreamRequest(NSE.find.path, NSE.find.requestSerialize, NSE.find.responseDeserialize, query, metadata, { deadline: Date.now() + 10_000 }), resolve),
  );
  t.deepEqual(find, { path: undefined, code: status.OK });
});
