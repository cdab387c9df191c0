/**
 * What issues this proxy's path tokens. One small interface, so that the sandbox-style HS256
 * generator (insecure mode) and the SPIFFE ES256 generator (own SVID as key, aud = the peer's SPIFFE
 * ID) are interchangeable. Issuing is asynchronous because jose signs through WebCrypto.
 */

/** What is known of the peer a token is for (its SPIFFE ID and certificate expiry under mTLS). */
export interface PeerIdentity {
  readonly spiffeId?: string;
  /** Epoch ms after which the peer's certificate is invalid. */
  readonly notAfter?: number;
}

export interface IssuedToken {
  readonly token: string;
  /** Epoch ms; also the JWT's exp (rounded down to seconds there). */
  readonly expires: number;
}

export interface TokenGenerator {
  issue(peer?: PeerIdentity): Promise<IssuedToken>;
}
