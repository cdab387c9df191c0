/**
 * SPIFFE path tokens as the SDK's spiffejwt.TokenGeneratorFunc makes them: ES256 signed with this
 * proxy's own X.509 SVID key, sub = own SPIFFE ID, aud = [the peer's SPIFFE ID] when the peer is
 * known (an mTLS peer), exp = the earliest of now + lifetime, the own certificate's and the peer
 * certificate's expiry. The SVID comes from a source that always holds the current one (SPIRE
 * rotates it), so a rotation takes effect at the next token.
 */
import type { KeyObject } from "node:crypto";
import { signJwt } from "./jwt.js";
import type { TokenGenerator } from "./token-generator.js";

export interface Svid {
  readonly spiffeId: string;
  readonly privateKey: KeyObject;
  /** Epoch ms when the certificate expires. */
  readonly notAfter: number;
}

export interface Es256Options {
  lifetimeMs: number;
  svid: () => Svid;
  now?: () => number;
}

export function createEs256TokenGenerator(options: Es256Options): TokenGenerator {
  const now = options.now ?? Date.now;
  return {
    async issue(peer) {
      const own = options.svid();
      const expires = Math.min(now() + options.lifetimeMs, own.notAfter, peer?.notAfter ?? Infinity);
      const claims = { sub: own.spiffeId, exp: Math.floor(expires / 1000), ...(peer?.spiffeId ? { aud: [peer.spiffeId] } : {}) };
      return { token: await signJwt(claims, "ES256", own.privateKey), expires };
    },
  };
}
