/**
 * authorize (secured mode) for v1 Register and Unregister: NSM's registry policy client_allowed,
 * as the SDK's registry authorize server applies it. A name another identity registered is
 * PERMISSION_DENIED `policy client_allowed failed`, counted, and nothing reaches the registry; a
 * successful Register records the owner (the path ids the registry answered, or the registrant),
 * a successful Unregister forgets it.
 */
import { tap } from "rxjs";
import { named, type Element } from "../../../pipeline/element.js";
import { Code, ProxyError } from "../../../pipeline/errors.js";
import type { PlaneIdentity } from "../../../identity/plane-identity.js";
import { type RegistrationOwners, registrantOf } from "../../../identity/registration-owners.js";

interface Registration {
  readonly name: string;
  readonly pathIds: readonly string[];
}

export function authorizeRegistration<Req extends Registration, Res>(identity: PlaneIdentity, owners: RegistrationOwners, kind: "register" | "unregister"): Element<Req, Res> {
  return named("authorize", next => (req, ctx) => {
    const registrant = registrantOf(ctx.metadata.get("path"));
    if (!owners.allowed(req.name, registrant)) {
      identity.refusals.count("client_allowed");
      throw new ProxyError(Code.PERMISSION_DENIED, "policy client_allowed failed: no sufficient privileges");
    }
    return next(req, ctx).pipe(
      tap(answer => {
        if (kind === "unregister") return owners.unregistered(req.name);
        const ids = (answer as Partial<Registration>).pathIds;
        owners.registered(req.name, ids && ids.length > 0 ? ids : [registrant]);
      }),
    );
  });
}
