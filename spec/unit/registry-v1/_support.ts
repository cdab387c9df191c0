/** Small shared pieces of the v1 registry unit tests (not a test file: ava runs *.spec.ts only). */
import { firstValueFrom, lastValueFrom, type Observable, toArray } from "rxjs";
import { createCallContext, type CallContext } from "../../../lib/pipeline/context.js";
import { ProxyError } from "../../../lib/pipeline/errors.js";
import { type DeepPartial, NetworkServiceEndpoint } from "../../../generated/nsm/registry.js";
import type { SrvResolver } from "../../../lib/domains/srv-resolve.js";
import { Code } from "../../../lib/pipeline/errors.js";
import { frozen } from "../../support/values.js";

export const ctx = (method = "/registry.NetworkServiceEndpointRegistry/Find", metadata: Record<string, string> = {}): CallContext =>
  createCallContext({ method, metadata: new Map(Object.entries(metadata)) });

/** The error an Observable ends with, as a ProxyError; fails if it completes without one. */
export async function errorOf<T>(observable: Observable<T>): Promise<ProxyError> {
  try {
    const values = await lastValueFrom(observable.pipe(toArray()));
    throw new Error(`expected an error, got ${JSON.stringify(values)}`);
  } catch (error: unknown) {
    if (!(error instanceof ProxyError)) throw error;
    return error;
  }
}

export const first = <T>(observable: Observable<T>) => firstValueFrom(observable);
export const all = <T>(observable: Observable<T>) => lastValueFrom(observable.pipe(toArray()));

export const nse = (partial: DeepPartial<NetworkServiceEndpoint>) => frozen(NetworkServiceEndpoint.fromPartial(partial));

/** A resolver answering from a table "service.domain" -> host:port; anything else NOT_FOUND. */
export function tableResolver(table: Record<string, string>): SrvResolver & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    async resolve(service, domain) {
      asked.push(`${service}.${domain}`);
      const answer = table[`${service}.${domain}`];
      if (answer === undefined) throw new ProxyError(Code.NOT_FOUND, `domain "${domain}" does not resolve: no SRV ${service}.${domain} (ENOTFOUND)`);
      return answer;
    },
    close() {},
  };
}
