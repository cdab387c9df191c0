/**
 * NSM's default connection policies (sdk/pkg/tools/opa/policies, common/ and server/), evaluated as
 * the Rego does, over the left side of the path (segments up to and including ours):
 * - tokens_valid: every segment's token is a decodable JWT (an empty path is valid);
 * - tokens_chained: each token's `aud` contains the next token's `sub` (fewer than two segments: valid);
 * - tokens_expired: every token has an `exp` in the future;
 * - prev_token_signed: the previous segment's token verifies (ES256) with the caller's certificate.
 * The order is the SDK's (common/ then server/, by file name); the first that fails is reported.
 */
import type { KeyObject } from "node:crypto";
import { type JwtClaims, decodeJwt, verifyJwt } from "../tokens/jwt.js";

export type PathPolicy = "tokens_chained" | "tokens_expired" | "tokens_valid" | "prev_token_signed";

/** What authorize.NewServer() checks by default, in its order. */
export const SERVER_POLICIES: readonly PathPolicy[] = ["tokens_chained", "tokens_expired", "tokens_valid", "prev_token_signed"];

export interface PolicyInput {
  readonly index: number;
  readonly tokens: readonly string[];
  /** The mTLS caller's certificate key (prev_token_signed); absent: that policy fails. */
  readonly peerKey?: KeyObject;
  /** Epoch ms (tokens_expired). */
  readonly now?: number;
}

const payload = (token: string): JwtClaims | undefined => {
  try {
    return decodeJwt(token).claims;
  } catch {
    return undefined;
  }
};

const audiences = (claims: JwtClaims | undefined): readonly unknown[] => (Array.isArray(claims?.aud) ? claims.aud : []);

/** Each token's claims (undefined: not a JWT), decoded once for all policies of one check. */
type Payloads = readonly (JwtClaims | undefined)[];

const CHECKS: Record<PathPolicy, (input: PolicyInput, payloads: Payloads) => boolean | Promise<boolean>> = {
  tokens_valid: (_, payloads) => payloads.every(claims => claims !== undefined),
  tokens_chained: (_, payloads) => {
    if (payloads.length < 2) return true;
    for (let x = 0; x + 1 < payloads.length; x++) {
      const next = payloads[x + 1]?.sub;
      if (next === undefined || !audiences(payloads[x]).includes(next)) return false;
    }
    return true;
  },
  tokens_expired: ({ now }, payloads) => {
    const seconds = (now ?? Date.now()) / 1000;
    return payloads.every(claims => typeof claims?.exp === "number" && seconds < claims.exp);
  },
  prev_token_signed: async ({ tokens, index, peerKey }) => {
    const token = tokens[index - 1];
    if (token === undefined || !peerKey) return false;
    try {
      await verifyJwt(token, peerKey, { ignoreExpiry: true });
      return true;
    } catch {
      return false;
    }
  },
};

export async function checkPolicy(policy: PathPolicy, input: PolicyInput): Promise<boolean> {
  return CHECKS[policy](input, input.tokens.map(payload));
}

/** The first policy of `policies` the input fails, or undefined when all pass. */
export async function firstFailedPolicy(input: PolicyInput, policies: readonly PathPolicy[] = SERVER_POLICIES): Promise<PathPolicy | undefined> {
  const payloads = input.tokens.map(payload);
  for (const policy of policies) {
    if (!(await CHECKS[policy](input, payloads))) return policy;
  }
  return undefined;
}
