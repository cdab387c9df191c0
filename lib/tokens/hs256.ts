/**
 * Test-grade path tokens exactly like the NSM SDK's sandbox (pkg/tools/sandbox GenerateTestToken):
 * HS256 with the shared secret "supersecret", sub "spiffe://test.com/subject", exp = now + lifetime,
 * no aud. Only for insecure mode (PNSMGR_INSECURE=true): anyone who knows the secret can forge them.
 */
import { webcrypto } from "node:crypto";
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
  // Imported once: jose would import a raw secret into WebCrypto again for every token it signs.
  const key = webcrypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return {
    async issue() {
      const expires = now() + options.lifetimeMs;
      return { token: await signJwt({ sub: subject, exp: Math.floor(expires / 1000) }, "HS256", await key), expires };
    },
  };
}
