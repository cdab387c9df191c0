/** A small HTTP server on a host:port listen address (":9090" binds every IPv4 interface, port 0 a free one), for /metrics and /debug. */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { bindAddress, parseHostPort } from "../domains/address.js";

export interface HttpEndpoint {
  /** host:port as bound. */
  readonly address: string;
  close(): Promise<void>;
}

export function listenHttp(listen: string, handle: (request: IncomingMessage, response: ServerResponse) => void): Promise<HttpEndpoint> {
  const { host, port } = parseHostPort(bindAddress(listen), "listen address", true);
  const server = createServer(handle);
  return new Promise((resolve, reject) => {
    server.once("error", error => reject(new Error(`cannot listen on ${listen}: ${error.message}`)));
    server.listen(port, host, () => {
      const bound = server.address() as AddressInfo;
      resolve({
        address: bound.family === "IPv6" ? `[${bound.address}]:${bound.port}` : `${bound.address}:${bound.port}`,
        close: () =>
          new Promise(done => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}
