/**
 * Secured mode's transport, assembled from the SPIFFE identity: the Workload API client feeding the
 * X509 source, server credentials for the mTLS listeners with the per-call peer check, and a client
 * pool for v1 dials whose every call carries a fresh ES256 token naming the server it reached (the
 * SDK's per-RPC credentials). Start-up waits for the first SVID, bounded by PNSMGR_SVID_TIMEOUT.
 */
import type { PeerCertificate } from "node:tls";
import type { ServerCredentials } from "@grpc/grpc-js";
import type { TlsPeer } from "../../pipeline/context.js";
import type { Logger } from "../../log.js";
import { createX509Source, type X509Source } from "../../identity/x509-source.js";
import { type PeerAuthorizer, authorizeAny, authorizeListed } from "../../identity/peer-authorizer.js";
import { type PlaneIdentity, createPlaneIdentity, createRefusals } from "../../identity/plane-identity.js";
import { createEs256TokenGenerator } from "../../tokens/es256.js";
import { TOKEN_EXPIRES_METADATA, TOKEN_METADATA } from "../../tokens/metadata.js";
import { formatRfc3339Nano } from "../../tokens/time.js";
import { connectWorkloadApi } from "./workload-api-client.js";
import { createSpiffeChannelCredentials, createSpiffeServerCredentials, createSvidCertificateProvider, peerOfServerCall } from "./spiffe-credentials.js";
import { type ClientPool, type ClientPoolOptions, createClientPool } from "./client-pool.js";
import { ProxyError } from "../../pipeline/errors.js";

export interface SpiffeTransportOptions {
  /** SPIFFE_ENDPOINT_SOCKET. */
  endpoint: string;
  /** PNSMGR_TLS_AUTHORIZE entries; empty: any ID of the own or a federated trust domain. */
  authorize: readonly string[];
  tokenLifetimeMs: number;
  svidTimeoutMs: number;
  log: Logger;
}

export interface SpiffeTransport {
  readonly source: X509Source;
  readonly identity: PlaneIdentity;
  readonly serverCredentials: ServerCredentials;
  /** The bridge's check of an mTLS caller (PERMISSION_DENIED when refused, counted as "mtls"). */
  readonly tlsPeer: (cert: PeerCertificate | undefined) => TlsPeer;
  /** A pool whose channels are mTLS and whose calls carry our token for the peer reached. */
  createClientPool(options?: ClientPoolOptions): ClientPool;
  close(): void;
}

export async function startSpiffeTransport(options: SpiffeTransportOptions): Promise<SpiffeTransport> {
  const { log } = options;
  const source = createX509Source({
    onExpired: svid =>
      log.error("X.509 SVID expired and the Workload API sent no new one: new mTLS handshakes are refused until it does", { spiffeId: svid.id.text, endpoint: options.endpoint }),
  });
  const workload = connectWorkloadApi({ endpoint: options.endpoint, source, log });
  try {
    await source.ready(options.svidTimeoutMs, () => workload.describe());
  } catch (error: unknown) {
    workload.close();
    source.close();
    throw error;
  }
  const authorize: PeerAuthorizer = options.authorize.length > 0 ? authorizeListed(options.authorize) : authorizeAny;
  const refusals = createRefusals();
  const tokens = createEs256TokenGenerator({ lifetimeMs: options.tokenLifetimeMs, svid: () => {
      const current = source.svid();
      return { spiffeId: current.id.text, privateKey: current.privateKey, notAfter: current.notAfter };
    },
  });
  const identity = createPlaneIdentity(tokens, refusals);
  const provider = createSvidCertificateProvider(source);
  const svid = source.svid();
  log.info("SPIFFE identity", { spiffeId: svid.id.text, notAfter: new Date(svid.notAfter).toISOString(), trustDomains: [...(source.current()?.bundles.byTrustDomain.keys() ?? [])].join(",") });
  return {
    source,
    identity,
    serverCredentials: createSpiffeServerCredentials(source),
    tlsPeer(cert) {
      try {
        const peer = peerOfServerCall(cert, source, authorize);
        return { spiffeId: peer.id.text, notAfter: peer.notAfter, publicKey: peer.leaf.publicKey };
      } catch (error: unknown) {
        refusals.count("mtls");
        throw ProxyError.from(error);
      }
    },
    createClientPool(poolOptions = {}) {
      const pool = createClientPool({
        ...poolOptions,
        credentialsFor: () =>
          createSpiffeChannelCredentials(source, provider, authorize, async peer => {
            const own = await tokens.issue(peer ? { spiffeId: peer.id.text, notAfter: peer.notAfter } : undefined);
            return new Map([
              [TOKEN_METADATA, own.token],
              [TOKEN_EXPIRES_METADATA, formatRfc3339Nano(own.expires)],
            ]);
          }).credentials,
      });
      // A rotated SVID: new calls handshake again, so the certificate a peer sees is the key our tokens are signed with.
      let serial = source.current()?.svid.chain[0]?.serialNumber;
      const unsubscribe = source.subscribe(material => {
        const next = material?.svid.chain[0]?.serialNumber;
        if (!next || next === serial) return;
        serial = next;
        pool.renew();
      });
      return { ...pool, close: () => (unsubscribe(), pool.close()) };
    },
    close() {
      workload.close();
      source.close();
    },
  };
}
