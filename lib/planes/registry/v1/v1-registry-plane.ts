/**
 * NSM v1 registry plane (nsmgr-proxy + registry-proxy-dns behaviour). Placeholder until the plane
 * lands: every method answers UNIMPLEMENTED.
 */
import { throwError } from "rxjs";
import type { Handler } from "../../../pipeline/element.js";
import { Code, ProxyError } from "../../../pipeline/errors.js";
import type { PlaneDeps } from "../../deps.js";
import type {
  NetworkService,
  NetworkServiceEndpoint,
  NetworkServiceEndpointQuery,
  NetworkServiceEndpointResponse,
  NetworkServiceQuery,
  NetworkServiceResponse,
} from "../../../../generated/nsm/registry.js";
import type { Empty } from "../../../../generated/nsm/google/protobuf/empty.js";

export interface V1RegistryPlane {
  nsRegister: Handler<NetworkService, NetworkService>;
  nsFind: Handler<NetworkServiceQuery, NetworkServiceResponse>;
  nsUnregister: Handler<NetworkService, Empty>;
  nseRegister: Handler<NetworkServiceEndpoint, NetworkServiceEndpoint>;
  nseFind: Handler<NetworkServiceEndpointQuery, NetworkServiceEndpointResponse>;
  nseUnregister: Handler<NetworkServiceEndpoint, Empty>;
  close(): void;
}

export function createV1RegistryPlane(_deps: PlaneDeps): V1RegistryPlane {
  const unimplemented = () => throwError(() => new ProxyError(Code.UNIMPLEMENTED, "the v1 registry plane is not built yet"));
  return { nsRegister: unimplemented, nsFind: unimplemented, nsUnregister: unimplemented, nseRegister: unimplemented, nseFind: unimplemented, nseUnregister: unimplemented, close() {} };
}
