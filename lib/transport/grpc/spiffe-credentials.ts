/**
 * grpc-js credentials from the X509Source: mTLS with the current SVID and trust bundles, rebuilt
 * for new handshakes whenever SPIRE rotates them (connections already open keep theirs).
 * - Server: TLS 1.3 only, a client certificate required and checked against the union of bundles
 *   at the handshake; the per-trust-domain check and the SPIFFE ID authorization follow per call
 *   (peerOfServerCall), before any handler runs.
 * - Client (one credentials object per dialled address): the server's SVID must chain to its own
 *   trust domain's bundle and pass the authorizer, never a DNS name check; the verified peer is
 *   remembered for the address so per-call tokens can name it as `aud` (as the SDK's per-RPC
 *   credentials do with the connection's AuthInfo).
 */
import { X509Certificate } from "node:crypto";
import type { PeerCertificate } from "node:tls";
import { CallCredentials, type ChannelCredentials, Metadata, ServerCredentials, experimental } from "@grpc/grpc-js";
import type { X509Material, X509Source } from "../../identity/x509-source.js";
import { type PeerAuthorizer, type VerifiedPeer, verifyPeer } from "../../identity/peer-authorizer.js";
import { Code, ProxyError } from "../../pipeline/errors.js";

type CertificateProvider = experimental.CertificateProvider;
type CaListener = experimental.CaCertificateUpdateListener;
type IdentityListener = experimental.IdentityCertificateUpdateListener;

/** A grpc-js certificate provider that follows the source: CA = every bundle, identity = the SVID. */
export function createSvidCertificateProvider(source: X509Source): CertificateProvider {
  const ca = new Set<CaListener>();
  const identity = new Set<IdentityListener>();
  const caUpdate = (m: X509Material | undefined) => (m ? { caCertificate: Buffer.from(m.bundles.pem) } : null);
  const identityUpdate = (m: X509Material | undefined) => (m ? { certificate: Buffer.from(m.svid.certPem), privateKey: Buffer.from(m.svid.keyPem) } : null);
  let unsubscribe: (() => void) | undefined;
  const follow = () => {
    if (unsubscribe || ca.size + identity.size === 0) return;
    unsubscribe = source.subscribe(m => {
      for (const l of ca) l(caUpdate(m));
      for (const l of identity) l(identityUpdate(m));
    });
  };
  const stop = () => {
    if (ca.size + identity.size > 0) return;
    unsubscribe?.();
    unsubscribe = undefined;
  };
  return {
    addCaCertificateListener(listener) {
      ca.add(listener);
      follow();
      if (source.current()) listener(caUpdate(source.current()));
    },
    removeCaCertificateListener(listener) {
      ca.delete(listener);
      stop();
    },
    addIdentityCertificateListener(listener) {
      identity.add(listener);
      follow();
      if (source.current()) listener(identityUpdate(source.current()));
    },
    removeIdentityCertificateListener(listener) {
      identity.delete(listener);
      stop();
    },
  };
}

/** Server credentials: TLS 1.3, client certificate required, contexts following the source. */
class SpiffeServerCredentials extends ServerCredentials {
  constructor(private readonly source: X509Source) {
    super({ requestCert: true, rejectUnauthorized: true, minVersion: "TLSv1.3" }, contextOptions(source.current()) ?? undefined);
    source.subscribe(material => this.updateSecureContextOptions(contextOptions(material)));
  }
  override _equals(other: ServerCredentials): boolean {
    return other instanceof SpiffeServerCredentials && other.source === this.source;
  }
}

function contextOptions(material: X509Material | undefined) {
  // null: no SVID (yet, or expired): grpc-js then drops new connections until one arrives.
  return material ? { ca: material.bundles.pem, cert: material.svid.certPem, key: material.svid.keyPem, minVersion: "TLSv1.3" as const } : null;
}

export function createSpiffeServerCredentials(source: X509Source): ServerCredentials {
  return new SpiffeServerCredentials(source);
}

/** The verified peer of a server call under mTLS; throws PERMISSION_DENIED naming the reason. */
export function peerOfServerCall(cert: PeerCertificate | undefined, source: X509Source, authorize: PeerAuthorizer): VerifiedPeer {
  if (!cert?.raw) throw new ProxyError(Code.PERMISSION_DENIED, "mTLS: the caller presented no X.509 SVID");
  const material = source.current();
  if (!material) throw new ProxyError(Code.UNAVAILABLE, "mTLS: this gateway has no valid X.509 SVID right now");
  try {
    return verifyPeer([new X509Certificate(cert.raw)], material.bundles, authorize);
  } catch (error: unknown) {
    throw new ProxyError(Code.PERMISSION_DENIED, `mTLS: ${(error as Error).message}`);
  }
}

export interface SpiffeChannel {
  readonly credentials: ChannelCredentials;
  /** The peer verified at this address's last handshake. */
  peer(): VerifiedPeer | undefined;
}

/**
 * Channel credentials for one dialled address. `callMetadata`, when given, adds per-call metadata
 * (the path token for the peer) once the connection, and so the peer, is known.
 */
export function createSpiffeChannelCredentials(
  source: X509Source,
  provider: CertificateProvider,
  authorize: PeerAuthorizer,
  callMetadata?: (peer: VerifiedPeer | undefined) => Promise<ReadonlyMap<string, string>>,
): SpiffeChannel {
  let peer: VerifiedPeer | undefined;
  const checkServerIdentity = (_host: string, cert: PeerCertificate): Error | undefined => {
    const material = source.current();
    if (!material) return new Error("mTLS: this gateway has no valid X.509 SVID right now");
    try {
      peer = verifyPeer(chainOf(cert), material.bundles, authorize);
      return undefined;
    } catch (error: unknown) {
      return new Error(`mTLS: ${(error as Error).message}`);
    }
  };
  const channel = experimental.createCertificateProviderChannelCredentials(provider, provider, { checkServerIdentity });
  const credentials = callMetadata
    ? channel.compose(
        CallCredentials.createFromMetadataGenerator((_options, callback) => {
          callMetadata(peer).then(
            entries => {
              const metadata = new Metadata();
              for (const [key, value] of entries) metadata.set(key, value);
              callback(null, metadata);
            },
            (error: unknown) => callback(error as Error),
          );
        }),
      )
    : channel;
  return { credentials, peer: () => peer };
}

/** The chain a TLS peer sent (leaf first), from Node's detailed peer certificate. */
function chainOf(cert: PeerCertificate): X509Certificate[] {
  const chain: X509Certificate[] = [];
  let current: (PeerCertificate & { issuerCertificate?: PeerCertificate }) | undefined = cert;
  while (current?.raw && chain.length < 10) {
    chain.push(new X509Certificate(current.raw));
    const next: PeerCertificate | undefined = current.issuerCertificate;
    if (!next || next === current || next.raw?.equals(current.raw)) break;
    current = next;
  }
  return chain;
}
