/** Small shared pieces of the registry unit tests (not a test file: ava runs *.spec.ts only). */
import { createCallContext, type CallContext } from "../../../lib/pipeline/context.js";
import type { Logger } from "../../../lib/log.js";
import { type DeepPartial, FindNetworkServiceResponse, NSERegistration } from "../../../generated/seed/registry.js";

export const ctx = (method = "/registry.NetworkServiceDiscovery/FindNetworkService"): CallContext => createCallContext({ method });

export { errorOf } from "../../support/observables.js";

export interface LogLine {
  level: string;
  msg: string;
  fields: Record<string, unknown>;
}

export function recordingLog(): Logger & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  const at = (level: string) => (msg: string, fields: Record<string, unknown> = {}) => void lines.push({ level, msg, fields });
  return { lines, debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

/** Deep-freezes a value, so an element that edits its input throws in the test. */
export function frozen<T>(value: T): T {
  if (typeof value === "object" && value !== null) {
    for (const v of Object.values(value)) frozen(v);
    Object.freeze(value);
  }
  return value;
}

export const findResponse = (partial: DeepPartial<FindNetworkServiceResponse>) => frozen(FindNetworkServiceResponse.fromPartial(partial));

export const registration = (nsm: { name: string; url: string }, nse = "nse-1", service = "icmp") =>
  frozen(
    NSERegistration.fromPartial({
      networkService: { name: service, payload: "IP" },
      networkServiceManager: nsm,
      networkServiceEndpoint: { name: nse, networkServiceName: service, networkServiceManagerName: nsm.name },
    }),
  );
