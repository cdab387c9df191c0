/**
 * Who may talk to us over mTLS, and whom we accept when we dial: the peer's X.509 SVID must chain
 * to the bundle of the trust domain its own SPIFFE ID names (not just to any trusted CA: a CA of
 * one domain cannot vouch for another's IDs), and its ID must pass the authorizer. By default any
 * ID of the own or a federated trust domain passes (go-spiffe's tlsconfig.AuthorizeAny over the
 * bundle set, as NSM's commands use it); PNSMGR_TLS_AUTHORIZE narrows it to listed trust domains
 * (`spiffe://td`) and IDs (`spiffe://td/path`).
 */
import type { X509Certificate } from "node:crypto";
import { type SpiffeId, parseSpiffeId, spiffeIdOfCertificate } from "./spiffe-id.js";
import type { X509Bundles } from "./x509-source.js";

export type PeerAuthorizer = (id: SpiffeId) => boolean;

export const authorizeAny: PeerAuthorizer = () => true;

/** Allows the listed trust domains (`spiffe://td`) and exact IDs (`spiffe://td/path`); throws on a malformed entry. */
export function authorizeListed(entries: readonly string[]): PeerAuthorizer {
  const domains = new Set<string>();
  const ids = new Set<string>();
  for (const entry of entries) {
    const id = parseSpiffeId(entry);
    if (id.path === "") domains.add(id.trustDomain);
    else ids.add(id.text);
  }
  return id => domains.has(id.trustDomain) || ids.has(id.text);
}

export interface VerifiedPeer {
  readonly id: SpiffeId;
  readonly leaf: X509Certificate;
  /** Epoch ms of the leaf's expiry. */
  readonly notAfter: number;
}

/**
 * Checks a peer's chain (leaf first, intermediates as the peer sent them) against the bundle of its
 * trust domain and the authorizer; returns the verified peer or throws with the reason.
 */
export function verifyPeer(chain: readonly X509Certificate[], bundles: X509Bundles, authorize: PeerAuthorizer, now = Date.now()): VerifiedPeer {
  const leaf = chain[0];
  if (!leaf) throw new Error("the peer presented no certificate");
  const id = spiffeIdOfCertificate(leaf);
  const roots = bundles.byTrustDomain.get(id.trustDomain);
  if (!roots || roots.length === 0) throw new Error(`${id.text}: trust domain ${id.trustDomain} is neither ours nor federated`);
  const notAfter = Date.parse(leaf.validTo);
  if (now < Date.parse(leaf.validFrom) || now >= notAfter) throw new Error(`${id.text}: certificate not valid now`);
  if (!chainsTo(leaf, chain.slice(1), roots)) throw new Error(`${id.text}: certificate does not chain to the ${id.trustDomain} bundle`);
  if (!authorize(id)) throw new Error(`${id.text} is not an authorized peer (PNSMGR_TLS_AUTHORIZE)`);
  return { id, leaf, notAfter };
}

function chainsTo(cert: X509Certificate, intermediates: readonly X509Certificate[], roots: readonly X509Certificate[], depth = 0): boolean {
  if (depth > 8) return false;
  if (roots.some(root => signedBy(cert, root))) return true;
  return intermediates.some(ca => ca.ca && signedBy(cert, ca) && chainsTo(ca, intermediates.filter(c => c !== ca), roots, depth + 1));
}

function signedBy(cert: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
  } catch {
    return false;
  }
}
