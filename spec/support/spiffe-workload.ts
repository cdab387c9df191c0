/**
 * A SPIFFE workload for secured tests: the X509 source fed by a real SPIRE agent (through pnsmgr's
 * own Workload API client), mTLS server credentials, and grpc-js clients that dial with the SVID and
 * accept any peer of a trusted domain. The test itself decides what token metadata a call carries
 * (valid, forged, expired, wrong audience), so these clients add none on their own.
 */
import { Client, type ServerCredentials } from "@grpc/grpc-js";
import { createX509Source, type X509Source } from "../../lib/identity/x509-source.js";
import { authorizeAny } from "../../lib/identity/peer-authorizer.js";
import { connectWorkloadApi } from "../../lib/transport/grpc/workload-api-client.js";
import { createSpiffeChannelCredentials, createSpiffeServerCredentials, createSvidCertificateProvider } from "../../lib/transport/grpc/spiffe-credentials.js";
import { silentLogger } from "../../lib/log.js";

export interface SpiffeWorkload {
  readonly source: X509Source;
  readonly spiffeId: string;
  readonly serverCredentials: ServerCredentials;
  /** An mTLS client for `address` (its own channel; closed by close()). */
  client(address: string): Client;
  close(): void;
}

export async function startSpiffeWorkload(endpointSocket: string, timeoutMs = 20_000): Promise<SpiffeWorkload> {
  const source = createX509Source();
  const workload = connectWorkloadApi({ endpoint: endpointSocket, source, log: silentLogger });
  await source.ready(timeoutMs, () => workload.describe());
  const provider = createSvidCertificateProvider(source);
  const clients: Client[] = [];
  return {
    source,
    spiffeId: source.svid().id.text,
    serverCredentials: createSpiffeServerCredentials(source),
    client(address) {
      const client = new Client(address, createSpiffeChannelCredentials(source, provider, authorizeAny).credentials, {
        "grpc.initial_reconnect_backoff_ms": 50,
        "grpc.max_reconnect_backoff_ms": 200,
      });
      clients.push(client);
      return client;
    },
    close() {
      for (const client of clients) client.close();
      workload.close();
      source.close();
    },
  };
}
