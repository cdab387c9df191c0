/**
 * Test-grade path tokens exactly like the NSM SDK's sandbox (pkg/tools/sandbox GenerateTestToken):
 * HS256 with the shared secret "supersecret", sub "spiffe://test.com/subject", exp = now + lifetime,
 * no aud. Nobody verifies them in the sandbox; they exist so every hop's segment carries a token and
 * an expiry. Not a security mechanism: production wants the ES256 generator with a SPIFFE SVID.
 */
import { signJwt } from "./jwt.js";
import type { TokenGenerator } from "./token-generator.js";

export const SANDBOX_SECRET = "supersecret";
export const SANDBOX_SUBJECT = "spiffe://test.com/subject";

export interface Hs256Options {
  /** Token lifetime (NSM_MAX_TOKEN_LIFETIME). */
  lifetimeMs: number;
  secret?: string;
  subject?: string;
  now?: () => number;
}

export function createHs256TokenGenerator(options: Hs256Options): TokenGenerator {
  const secret = options.secret ?? SANDBOX_SECRET;
  const subject = options.subject ?? SANDBOX_SUBJECT;
  const now = options.now ?? Date.now;
  return {
    issue() {
      const expires = now() + options.lifetimeMs;
      return { token: signJwt({ sub: subject, exp: Math.floor(expires / 1000) }, "HS256", secret), expires };
    },
  };
}
