/** Small shared pieces of the registry unit tests (not a test file: ava runs *.spec.ts only). */
import { createCallContext, type CallContext } from "../../../lib/pipeline/context.js";
import { type DeepPartial, FindNetworkServiceResponse, NSERegistration } from "../../../generated/seed/registry.js";
import { frozen } from "../../support/values.js";

export const ctx = (method = "/registry.NetworkServiceDiscovery/FindNetworkService"): CallContext => createCallContext({ method });

export { errorOf } from "../../support/observables.js";
export { recordingLog } from "../../support/log.js";

export const findResponse = (partial: DeepPartial<FindNetworkServiceResponse>) => frozen(FindNetworkServiceResponse.fromPartial(partial));

export const registration = (nsm: { name: string; url: string }, nse = "nse-1", service = "icmp") =>
  frozen(
    NSERegistration.fromPartial({
      networkService: { name: service, payload: "IP" },
      networkServiceManager: nsm,
      networkServiceEndpoint: { name: nse, networkServiceName: service, networkServiceManagerName: nsm.name },
    }),
  );
