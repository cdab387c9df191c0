/**
 * Compact JWS (JWT) encoding and decoding with node:crypto: HS256 (HMAC-SHA256, NSM's sandbox
 * tokens) and ES256 (ECDSA P-256 with the raw r||s signature JWS requires, SPIFFE JWT-SVID style).
 * Only what the proxy needs: sign, decode, verify a signature and an expiry.
 */
import { type KeyObject, createHmac, sign, timingSafeEqual, verify } from "node:crypto";

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
  readonly signingInput: string;
  readonly signature: Buffer;
}

const b64url = (data: Buffer | string) => Buffer.from(data).toString("base64url");

export type JwtAlgorithm = "HS256" | "ES256";

export function signJwt(claims: JwtClaims, alg: "HS256", key: string | Buffer): string;
export function signJwt(claims: JwtClaims, alg: "ES256", key: KeyObject): string;
export function signJwt(claims: JwtClaims, alg: JwtAlgorithm, key: string | Buffer | KeyObject): string {
  const signingInput = `${b64url(JSON.stringify({ alg, typ: "JWT" }))}.${b64url(JSON.stringify(claims))}`;
  const signature =
    alg === "HS256"
      ? createHmac("sha256", key as string | Buffer).update(signingInput).digest()
      : sign("sha256", Buffer.from(signingInput), { key: key as KeyObject, dsaEncoding: "ieee-p1363" });
  return `${signingInput}.${b64url(signature)}`;
}

/** Splits and parses a JWT without checking it; throws on anything that is not a JWT. */
export function decodeJwt(token: string): DecodedJwt {
  const parts = token.split(".");
  if (parts.length !== 3) throw new Error("a JWT has three dot-separated parts");
  const [header, claims, signature] = parts as [string, string, string];
  const parse = (text: string, what: string) => {
    try {
      const value: unknown = JSON.parse(Buffer.from(text, "base64url").toString("utf8"));
      if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Error("not an object");
      return value as Record<string, unknown>;
    } catch {
      throw new Error(`JWT ${what} is not base64url JSON`);
    }
  };
  return { header: parse(header, "header"), claims: parse(claims, "claims") as JwtClaims, signingInput: `${header}.${claims}`, signature: Buffer.from(signature, "base64url") };
}

/** The claims of a token whose signature checks out with `key` (HS256 secret or ES256 public key); throws otherwise. */
export function verifyJwt(token: string, key: string | Buffer | KeyObject, now: number = Date.now()): JwtClaims {
  const jwt = decodeJwt(token);
  let ok: boolean;
  if (jwt.header.alg === "HS256" && (typeof key === "string" || Buffer.isBuffer(key))) {
    const expected = createHmac("sha256", key).update(jwt.signingInput).digest();
    ok = expected.length === jwt.signature.length && timingSafeEqual(expected, jwt.signature);
  } else if (jwt.header.alg === "ES256" && typeof key === "object" && !Buffer.isBuffer(key)) {
    ok = verify("sha256", Buffer.from(jwt.signingInput), { key, dsaEncoding: "ieee-p1363" }, jwt.signature);
  } else {
    throw new Error(`JWT algorithm ${String(jwt.header.alg)} does not match the key given`);
  }
  if (!ok) throw new Error("JWT signature does not verify");
  if (typeof jwt.claims.exp === "number" && jwt.claims.exp * 1000 <= now) throw new Error("JWT has expired");
  return jwt.claims;
}
