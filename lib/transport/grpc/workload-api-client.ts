/**
 * A client of the SPIFFE Workload API (SPIRE agent) on its unix socket: one FetchX509SVID stream,
 * every answer parsed into the X509Source, and the stream opened again with backoff whenever it ends
 * (the agent restarted, the socket is not there yet). The source keeps the last SVID meanwhile.
 */
import { Client, Metadata, credentials, type ClientReadableStream } from "@grpc/grpc-js";
import { SpiffeWorkloadAPIService, type X509SVIDResponse } from "../../../generated/spiffe/workload.js";
import { materialFromResponse, type X509Source } from "../../identity/x509-source.js";
import type { Logger } from "../../log.js";
import { unixAddress } from "../../domains/address.js";

export interface WorkloadApiOptions {
  /** SPIFFE_ENDPOINT_SOCKET: `unix:///path`, `unix:/path` or a bare absolute path. */
  endpoint: string;
  source: X509Source;
  log: Logger;
  /** Backoff between reconnects: initial and max, ms (default 200 ms doubling up to 10 s). */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
}

export interface WorkloadApiClient {
  /** What the client is doing, for start-up errors ("connecting to ...: <last error>"). */
  describe(): string;
  close(): void;
}

/** The grpc-js target of a SPIFFE_ENDPOINT_SOCKET value; throws when it is not a unix socket. */
export function workloadApiTarget(endpoint: string): string {
  const target = unixAddress(endpoint, true);
  if (target === undefined) throw new Error(`SPIFFE_ENDPOINT_SOCKET must be unix:///absolute/path (got ${JSON.stringify(endpoint)})`);
  return target;
}

export function connectWorkloadApi(options: WorkloadApiOptions): WorkloadApiClient {
  const target = workloadApiTarget(options.endpoint);
  const initial = options.initialBackoffMs ?? 200;
  const max = options.maxBackoffMs ?? 10_000;
  const client = new Client(target, credentials.createInsecure(), {
    "grpc.initial_reconnect_backoff_ms": initial,
    "grpc.max_reconnect_backoff_ms": max,
  });
  const method = SpiffeWorkloadAPIService.fetchX509Svid;
  let closed = false;
  let backoff = initial;
  let lastError = "not connected yet";
  let call: ClientReadableStream<unknown> | undefined;
  let retry: NodeJS.Timeout | undefined;
  let agentAway = false;

  const open = () => {
    if (closed) return;
    const metadata = new Metadata();
    // The Workload API refuses calls without this header (a guard against SSRF through proxies).
    metadata.set("workload.spiffe.io", "true");
    const stream = client.makeServerStreamRequest(method.path, method.requestSerialize, method.responseDeserialize, {}, metadata, {});
    call = stream;
    stream.on("data", (response: X509SVIDResponse) => {
      try {
        const material = materialFromResponse(response);
        options.source.update(material);
        backoff = initial;
        if (agentAway) options.log.info("SPIFFE Workload API is back", { endpoint: options.endpoint });
        agentAway = false;
        options.log.debug("X.509 SVID received", { spiffeId: material.svid.id.text, notAfter: new Date(material.svid.notAfter).toISOString(), trustDomains: [...material.bundles.byTrustDomain.keys()].join(",") });
      } catch (error: unknown) {
        lastError = `unusable answer: ${(error as Error).message}`;
        options.log.warn("SPIFFE Workload API sent an unusable X.509 SVID answer", { error: (error as Error).message });
      }
    });
    const reopen = (reason: string) => {
      if (call !== stream || closed) return;
      call = undefined;
      lastError = reason;
      if (!agentAway) options.log.warn("SPIFFE Workload API stream ended; retrying with backoff (the last SVID stays in use until it expires)", { endpoint: options.endpoint, reason });
      agentAway = true;
      retry = setTimeout(open, backoff);
      backoff = Math.min(backoff * 2, max);
    };
    stream.on("error", (error: Error) => reopen(error.message));
    stream.on("end", () => reopen("stream ended"));
  };
  open();

  return {
    describe: () => `SPIFFE Workload API at ${options.endpoint}: ${lastError}`,
    close() {
      closed = true;
      clearTimeout(retry);
      call?.cancel();
      client.close();
    },
  };
}
