/**
 * SPIFFE IDs: `spiffe://<trust domain>/<path>`, as go-spiffe's spiffeid parses them (lower-case trust
 * domain of letters, digits, `.-_`; path segments of letters, digits, `.-_`, no `.`/`..` segments),
 * and the one URI SAN of an X.509 SVID.
 */
import type { X509Certificate } from "node:crypto";
import { quoted } from "../pipeline/errors.js";

const TRUST_DOMAIN = /^[a-z0-9._-]+$/;
const SEGMENT = /^[a-zA-Z0-9._-]+$/;

export interface SpiffeId {
  readonly trustDomain: string;
  readonly path: string;
  /** The whole ID, `spiffe://td/path`. */
  readonly text: string;
}

/** Parses a SPIFFE ID; throws with the reason when it is not one. */
export function parseSpiffeId(text: string): SpiffeId {
  if (!text.startsWith("spiffe://")) throw new Error(`${quoted(text)} is not a SPIFFE ID (no spiffe:// scheme)`);
  const rest = text.slice("spiffe://".length);
  const slash = rest.indexOf("/");
  const trustDomain = slash < 0 ? rest : rest.slice(0, slash);
  const path = slash < 0 ? "" : rest.slice(slash);
  if (!TRUST_DOMAIN.test(trustDomain)) throw new Error(`${quoted(text)} has no valid trust domain`);
  if (path !== "") {
    for (const segment of path.slice(1).split("/")) {
      if (!SEGMENT.test(segment) || segment === "." || segment === "..") throw new Error(`${quoted(text)} has an invalid path segment`);
    }
  }
  return { trustDomain, path, text };
}

/** `spiffe://td` of an ID or a bare trust domain name. */
export function trustDomainId(trustDomain: string): string {
  return `spiffe://${trustDomain}`;
}

/** The SPIFFE ID in a certificate's URI SAN; throws unless there is exactly one. */
export function spiffeIdOfCertificate(cert: Pick<X509Certificate, "subjectAltName">): SpiffeId {
  const uris = (cert.subjectAltName ?? "")
    .split(/,\s*/)
    .filter(name => name.startsWith("URI:"))
    .map(name => name.slice(4));
  if (uris.length !== 1) throw new Error(`an X.509 SVID has exactly one URI SAN (found ${uris.length})`);
  return parseSpiffeId(uris[0]!);
}
