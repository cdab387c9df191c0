/**
 * ioredis listens for a connection's first 'error' only; a TLS connection may emit a second. The
 * connectors pnsmgr gives ioredis keep a listener on every stream, so a second error is no uncaught
 * exception (which would end the gateway).
 */
import test from "ava";
import { createServer } from "node:net";
import type { Socket } from "node:net";
import { StandaloneConnectorKeepingErrors } from "../../../lib/state/redis/connectors.js";

test("a stream from the connector survives a second 'error' after ioredis' once-listener has fired", async t => {
  const server = createServer(socket => socket.on("error", () => undefined));
  await new Promise<void>(resolve => server.listen(0, "127.0.0.1", resolve));
  t.teardown(() => server.close());
  const port = (server.address() as { port: number }).port;
  const connector = new (StandaloneConnectorKeepingErrors as unknown as new (options: object) => { connect(onError: () => void): Promise<Socket>; disconnect(): void })({ host: "127.0.0.1", port });
  const stream = await connector.connect(() => undefined);
  let firstSeen = 0;
  stream.once("error", () => firstSeen++); // what ioredis does
  stream.emit("error", new Error("tlsv1 alert"));
  t.notThrows(() => stream.emit("error", new Error("read ECONNRESET")), "the second error has a listener");
  t.is(firstSeen, 1);
  stream.destroy();
});
