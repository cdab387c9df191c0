/**
 * A tiny v1 NetworkServiceEndpointRegistry that answers Find by exact NSE name (watch=false) from a
 * fixed list, on a real grpc-js server: what the connection plane's discovery needs of a local
 * registry, nothing more. Every query is recorded.
 */
import type { ServerWritableStream } from "@grpc/grpc-js";
import {
  type NetworkServiceEndpoint,
  type NetworkServiceEndpointQuery,
  NetworkServiceEndpointRegistryService,
  type NetworkServiceEndpointResponse,
} from "../../generated/nsm/registry.js";
import { type TestServer, startTestServer } from "./grpc.js";

export interface FakeNseRegistry {
  readonly server: TestServer;
  readonly url: string;
  readonly queries: NetworkServiceEndpointQuery[];
  /** name -> URL; change it to move an NSE. */
  readonly nses: Map<string, string>;
}

export async function startFakeNseRegistry(nses: Record<string, string>): Promise<FakeNseRegistry> {
  const table = new Map(Object.entries(nses));
  const queries: NetworkServiceEndpointQuery[] = [];
  const find = (call: ServerWritableStream<NetworkServiceEndpointQuery, NetworkServiceEndpointResponse>) => {
    queries.push(call.request);
    const name = call.request.networkServiceEndpoint?.name ?? "";
    const url = table.get(name);
    if (url !== undefined) {
      const nse: NetworkServiceEndpoint = { name, networkServiceNames: ["ns"], networkServiceLabels: {}, url, expirationTime: undefined, initialRegistrationTime: undefined, pathIds: [] };
      call.write({ networkServiceEndpoint: nse, deleted: false });
    }
    call.end();
  };
  const unimplemented = (_: unknown, callback: (e: { code: number; details: string }) => void) => callback({ code: 12, details: "not in the lite registry" });
  const server = await startTestServer([[NetworkServiceEndpointRegistryService, { find, register: unimplemented, unregister: unimplemented }]]);
  return { server, url: `tcp://${server.address}`, queries, nses: table };
}
