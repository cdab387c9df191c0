/**
 * "service@domain" goes out as "service" (the remote domain knows its services by their own names)
 * and the answer's network_service.name comes back as "service@domain", the name the caller asked
 * for. An answer without a network_service is left without one.
 */
import { map } from "rxjs";
import { named, type Element } from "../../pipeline/element.js";
import { targetOf } from "../../domains/names.js";
import type { FindNetworkServiceRequest, FindNetworkServiceResponse } from "../../../generated/seed/registry.js";

export function interdomainServiceName(): Element<FindNetworkServiceRequest, FindNetworkServiceResponse> {
  return named("interdomain-service-name", next => (req, ctx) => {
    const original = req.networkServiceName;
    return next({ ...req, networkServiceName: targetOf(original) }, ctx).pipe(
      map(res => (res.networkService ? { ...res, networkService: { ...res.networkService, name: original } } : res)),
    );
  });
}
