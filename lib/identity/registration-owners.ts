/**
 * NSM's registry policy client_allowed (sdk/pkg/tools/opa/policies/registry/client_allowed.rego): a
 * name registered once belongs to the identity that registered it (the `sub` of the first segment's
 * token in the registry path, compared with the first of the stored path_ids); a Register or
 * Unregister of that name by another identity is refused. Unknown names are free. Per process, as in
 * the SDK.
 */
import { decodeJwt } from "../tokens/jwt.js";

export interface RegistrationOwners {
  /** client_allowed: the name is free, or `resourceId` is its first path id. */
  allowed(name: string, resourceId: string): boolean;
  /** After a successful Register: the name's path ids as the registry answered them (first: the owner). */
  registered(name: string, pathIds: readonly string[]): void;
  unregistered(name: string): void;
}

export function createRegistrationOwners(): RegistrationOwners {
  const pathIds = new Map<string, readonly string[]>();
  return {
    allowed: (name, resourceId) => {
      const ids = pathIds.get(name);
      return ids === undefined || ids[0] === resourceId;
    },
    registered: (name, ids) => void pathIds.set(name, ids),
    unregistered: name => void pathIds.delete(name),
  };
}

/**
 * The resource id the SDK takes from the registry `path` metadata: the `sub` of the first segment's
 * token, "" when there is none or it does not decode (the SDK logs and uses an empty ID).
 */
export function registrantOf(pathMetadata: string | undefined): string {
  if (pathMetadata === undefined) return "";
  try {
    const doc = JSON.parse(pathMetadata) as { PathSegments?: { token?: unknown; Token?: unknown }[] | null };
    const first = doc.PathSegments?.[0];
    const token = first?.token ?? first?.Token;
    const sub = typeof token === "string" ? decodeJwt(token).claims.sub : undefined;
    return typeof sub === "string" ? sub : "";
  } catch {
    return "";
  }
}
