/**
 * What the planes take from the SPIFFE identity in secured mode: the token generator (ES256 with the
 * current SVID), who owns which connection (for the monitor policy), and the count of refusals by
 * policy. Absent in insecure mode (PNSMGR_INSECURE=true), where nothing is checked.
 */
import type { TokenGenerator } from "../tokens/token-generator.js";
import { type ConnectionOwners, createConnectionOwners } from "./connection-owners.js";

export interface Refusals {
  /** Counts one refusal by a policy (or "mtls" for a caller refused at the transport). */
  count(policy: string): void;
  /** Refusals so far, by policy. */
  snapshot(): ReadonlyMap<string, number>;
}

export function createRefusals(): Refusals {
  const counts = new Map<string, number>();
  return {
    count: policy => counts.set(policy, (counts.get(policy) ?? 0) + 1),
    snapshot: () => new Map(counts),
  };
}

export interface PlaneIdentity {
  readonly tokens: TokenGenerator;
  readonly owners: ConnectionOwners;
  readonly refusals: Refusals;
}

export function createPlaneIdentity(tokens: TokenGenerator, refusals: Refusals = createRefusals()): PlaneIdentity {
  return { tokens, owners: createConnectionOwners(), refusals };
}
