/**
 * Rejects an NSERegistration that NSMRS could not use, with INVALID_ARGUMENT naming the missing
 * part: it must carry a network_service_manager whose url is host:port (the address other domains
 * will dial) and a network_service_endpoint with a name (the key RemoveNSE uses). The seed forwarded
 * such registrations, or panicked on them.
 */
import type { Observable } from "rxjs";
import type { Element } from "../../pipeline/element.js";
import { invalidArgument, quoted } from "../../pipeline/errors.js";
import { checkedBounds } from "../../pipeline/bounds.js";
import { parseHostPort } from "../../domains/address.js";
import type { NSERegistration } from "../../../generated/seed/registry.js";
import { rewriteEachMessage, rewriteRequest } from "./rewrite-request.js";

export function validRegistration(reg: NSERegistration): NSERegistration {
  checkedBounds(reg, "NSERegistration");
  const nsm = reg.networkServiceManager;
  if (!nsm) throw invalidArgument("NSERegistration has no network_service_manager");
  if (nsm.url === "") throw invalidArgument(`network_service_manager ${quoted(nsm.name)} has no url`);
  if (parseHostPort(nsm.url, "network_service_manager.url").host === "") {
    throw invalidArgument(`network_service_manager.url ${quoted(nsm.url)} has no host`);
  }
  const nse = reg.networkServiceEndpoint;
  if (!nse) throw invalidArgument("NSERegistration has no network_service_endpoint");
  if (nse.name === "") throw invalidArgument("network_service_endpoint.name is empty");
  return reg;
}

export function checkRegistration<Res>(): Element<NSERegistration, Res> {
  return rewriteRequest("check-registration", validRegistration);
}

export function checkBulkRegistration<Res>(): Element<Observable<NSERegistration>, Res> {
  return rewriteEachMessage("check-registration", validRegistration);
}
