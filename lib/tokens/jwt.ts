/**
 * JWTs through jose: sign (HS256 for NSM's sandbox tokens, ES256 for SPIFFE path tokens), decode
 * without checking, and verify a signature (and, unless told otherwise, the expiry). Nothing here
 * does cryptography itself.
 */
import type { KeyObject, webcrypto } from "node:crypto";
import { SignJWT, compactVerify, decodeJwt as joseDecodeJwt, decodeProtectedHeader, errors } from "jose";

export interface JwtClaims {
  sub?: string;
  aud?: string | string[];
  exp?: number;
  iat?: number;
  [claim: string]: unknown;
}

export interface DecodedJwt {
  readonly header: { alg?: string; typ?: string; [k: string]: unknown };
  readonly claims: JwtClaims;
}

export type JwtAlgorithm = "HS256" | "ES256";

/** HS256 takes a shared secret (or its imported CryptoKey), ES256 a P-256 private key. */
export async function signJwt(claims: JwtClaims, alg: JwtAlgorithm, key: string | Uint8Array | KeyObject | webcrypto.CryptoKey): Promise<string> {
  const secret = typeof key === "string" ? new TextEncoder().encode(key) : key;
  return new SignJWT(claims).setProtectedHeader({ alg, typ: "JWT" }).sign(secret);
}

/** Header and claims of a JWT, unchecked; throws on anything that is not a JWT. */
export function decodeJwt(token: string): DecodedJwt {
  if (token.split(".").length !== 3) throw new Error("a JWT has three dot-separated parts");
  let header: DecodedJwt["header"];
  try {
    header = decodeProtectedHeader(token) as DecodedJwt["header"];
  } catch {
    throw new Error("JWT header is not base64url JSON");
  }
  try {
    return { header, claims: joseDecodeJwt(token) as JwtClaims };
  } catch {
    throw new Error("JWT claims are not base64url JSON");
  }
}

export interface VerifyOptions {
  /** Epoch ms to judge expiry against (default now). */
  now?: number;
  /** Check the signature only, as OPA's io.jwt.verify_es256 does. */
  ignoreExpiry?: boolean;
}

/**
 * The claims of a token whose signature checks out with `key` (an HS256 secret or an ES256 public
 * key) and which has not expired; rejects with a short reason otherwise.
 */
export async function verifyJwt(token: string, key: string | Uint8Array | KeyObject, options: VerifyOptions = {}): Promise<JwtClaims> {
  const { header, claims } = decodeJwt(token);
  const secretKey = typeof key === "string" || key instanceof Uint8Array;
  const alg = secretKey ? "HS256" : "ES256";
  if (header.alg !== alg) throw new Error(`JWT algorithm ${String(header.alg)} does not match the key given (${alg})`);
  try {
    await compactVerify(token, typeof key === "string" ? new TextEncoder().encode(key) : key, { algorithms: [alg] });
  } catch (error: unknown) {
    if (error instanceof errors.JWSSignatureVerificationFailed) throw new Error("JWT signature does not verify");
    throw new Error(`JWT does not verify: ${(error as Error).message}`);
  }
  const now = options.now ?? Date.now();
  if (!options.ignoreExpiry && typeof claims.exp === "number" && claims.exp * 1000 <= now) throw new Error("JWT has expired");
  return claims;
}
