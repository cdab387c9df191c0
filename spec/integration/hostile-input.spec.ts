/**
 * Bytes no well-behaved peer sends, to every method the gateway serves: each call must end with a
 * status (never hang, never UNKNOWN), and the gateway must keep serving afterwards.
 */
import test from "ava";
import { Client, Metadata, credentials, status } from "@grpc/grpc-js";
import { HealthService, HealthCheckResponse_ServingStatus } from "../../generated/nsm/health.js";
import { services } from "../../lib/server.js";
import { callUnary, closeAll } from "../support/grpc.js";
import { startTestGateway, stopGateways } from "../support/gateway.js";

test.afterEach.always(async () => {
  await stopGateways();
  await closeAll();
});

const PAYLOADS: [string, Buffer][] = [
  ["invalid tag", Buffer.from([0xff])],
  ["truncated varint", Buffer.from([0x08])],
  ["length beyond the message", Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f])],
  ["wire type 7", Buffer.from([0x0f, 0x01])],
  ["invalid UTF-8 in a nested string", Buffer.from([0x0a, 0x04, 0x12, 0x02, 0xc3, 0x28])],
  ["empty message", Buffer.alloc(0)],
];

const identity = (b: Buffer) => b;

function rawCall(client: Client, path: string, payload: Buffer, streaming: { requestStream: boolean; responseStream: boolean }): Promise<number> {
  return new Promise(resolve => {
    const options = { deadline: Date.now() + 3000 };
    if (!streaming.requestStream && !streaming.responseStream) {
      client.makeUnaryRequest(path, identity, identity, payload, new Metadata(), options, error => resolve(error ? (error.code as number) : status.OK));
      return;
    }
    const call = streaming.requestStream
      ? client.makeBidiStreamRequest(path, identity, identity, new Metadata(), options)
      : client.makeServerStreamRequest(path, identity, identity, payload, new Metadata(), options);
    call.on("data", () => undefined);
    call.on("error", () => undefined);
    call.on("status", s => resolve(s.code as number));
    if (streaming.requestStream) {
      (call as ReturnType<Client["makeBidiStreamRequest"]>).write(payload);
      (call as ReturnType<Client["makeBidiStreamRequest"]>).end();
    }
  });
}

test.serial("malformed bytes on every method end with a status and the gateway keeps serving", async t => {
  const gateway = await startTestGateway({ nsmrsAddress: undefined, localRegistryAddress: undefined });
  const proxy = gateway.proxy;
  const client = new Client(gateway.apiAddress, credentials.createInsecure());
  t.teardown(() => client.close());
  let calls = 0;
  for (const [definition] of services(proxy)) {
    for (const method of Object.values(definition)) {
      if (method.path === HealthService.watch.path) continue; // never ends by design
      for (const [what, payload] of PAYLOADS) {
        const code = await rawCall(client, method.path, payload, method);
        calls++;
        t.not(code, status.UNKNOWN, `${method.path} ${what}`);
        t.not(code, status.DEADLINE_EXCEEDED, `${method.path} ${what}: the call hung`);
      }
    }
  }
  t.true(calls > 50, `${calls} calls`);
  const health = await callUnary(gateway.apiAddress, HealthService.check, { service: "" });
  t.is(health.status, HealthCheckResponse_ServingStatus.SERVING);
});
