/**
 * Closed-loop unary load: `inFlight` workers each send a Request, wait for its answer, send the next,
 * until `durationMs` has passed. Closed loop (not a fixed arrival rate) because the question is how
 * much the proxy costs at a given concurrency, and a closed loop cannot overrun a slower target and
 * turn a throughput limit into an ever-growing queue.
 */
import { Client, Metadata, type ServiceError, credentials } from "@grpc/grpc-js";
import { NetworkServiceService, type NetworkServiceRequest } from "../../generated/nsm/networkservice.js";
import type { Connection } from "../../generated/nsm/connection.js";

const method = NetworkServiceService.request;

export interface LoadResult {
  readonly calls: number;
  readonly errors: number;
  readonly seconds: number;
  /** Latency of every successful call, ms. */
  readonly latenciesMs: Float64Array;
  readonly firstError?: string;
}

/** One channel per target, as one client NSMgr talking to one peer would hold. */
export function createRequestClient(address: string): Client {
  return new Client(address, credentials.createInsecure());
}

function call(client: Client, request: NetworkServiceRequest): Promise<Connection> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(method.path, method.requestSerialize, method.responseDeserialize, request, new Metadata(), { deadline: Date.now() + 10_000 }, (error, value) =>
      error ? reject(error) : resolve(value as Connection),
    );
  });
}

/** Checks once, before any timing, that the target answers this request at all. */
export async function probe(client: Client, request: NetworkServiceRequest): Promise<Connection> {
  return call(client, request);
}

export async function runRequestLoad(client: Client, request: NetworkServiceRequest, inFlight: number, durationMs: number): Promise<LoadResult> {
  let latencies = new Float64Array(1 << 16);
  let calls = 0;
  let errors = 0;
  let firstError: string | undefined;
  const start = performance.now();
  const end = start + durationMs;

  async function worker() {
    while (performance.now() < end) {
      const t0 = performance.now();
      try {
        await call(client, request);
        if (calls === latencies.length) {
          const grown = new Float64Array(latencies.length * 2);
          grown.set(latencies);
          latencies = grown;
        }
        latencies[calls++] = performance.now() - t0;
      } catch (error: unknown) {
        errors++;
        firstError ??= `${(error as ServiceError).code ?? ""} ${(error as Error).message}`;
      }
    }
  }

  await Promise.all(Array.from({ length: inFlight }, worker));
  const seconds = (performance.now() - start) / 1000;
  return { calls, errors, seconds, latenciesMs: latencies.subarray(0, calls), ...(firstError === undefined ? {} : { firstError }) };
}
