/**
 * The current X.509 identity of this process: its default SVID (certificate chain and key) and the
 * trust bundles (own trust domain and federated ones), as the Workload API last sent them. Readers
 * always get the latest; listeners hear of every change (rotation) so TLS contexts for new
 * handshakes and new tokens follow without a restart. An SVID past its expiry is withdrawn (listeners
 * get undefined) until a fresh one arrives.
 */
import { type KeyObject, type X509Certificate, createPrivateKey } from "node:crypto";
import { type SpiffeId, parseSpiffeId, spiffeIdOfCertificate } from "./spiffe-id.js";
import { splitDerCertificates } from "./der.js";

export interface X509Svid {
  readonly id: SpiffeId;
  /** Leaf first, then any intermediates. */
  readonly chain: readonly X509Certificate[];
  readonly privateKey: KeyObject;
  /** Epoch ms of the leaf's expiry. */
  readonly notAfter: number;
  readonly certPem: string;
  readonly keyPem: string;
}

export interface X509Bundles {
  /** CA certificates by trust domain name (`example.org`, no scheme). */
  readonly byTrustDomain: ReadonlyMap<string, readonly X509Certificate[]>;
  /** Every CA certificate of every trusted domain, PEM: what TLS takes as `ca`. */
  readonly pem: string;
}

export interface X509Material {
  readonly svid: X509Svid;
  readonly bundles: X509Bundles;
}

/** One Workload API answer, as the generated message has it (kept structural so this layer needs no proto). */
export interface X509SvidResponseLike {
  svids: { spiffeId: string; x509Svid: Uint8Array; x509SvidKey: Uint8Array; bundle: Uint8Array }[];
  federatedBundles: Record<string, Uint8Array> | Map<string, Uint8Array>;
}

/** Parses a Workload API answer: the first SVID is the default one, as go-spiffe takes it. */
export function materialFromResponse(response: X509SvidResponseLike): X509Material {
  const first = response.svids[0];
  if (!first) throw new Error("the Workload API sent no SVID");
  const chain = splitDerCertificates(first.x509Svid);
  const leaf = chain[0];
  if (!leaf) throw new Error("the SVID has no certificate");
  const id = parseSpiffeId(first.spiffeId);
  if (spiffeIdOfCertificate(leaf).text !== id.text) throw new Error(`the SVID certificate does not name ${id.text}`);
  const privateKey = createPrivateKey({ key: Buffer.from(first.x509SvidKey), format: "der", type: "pkcs8" });
  const byTrustDomain = new Map<string, readonly X509Certificate[]>([[id.trustDomain, splitDerCertificates(first.bundle)]]);
  const federated = response.federatedBundles instanceof Map ? [...response.federatedBundles] : Object.entries(response.federatedBundles);
  for (const [domain, der] of federated) byTrustDomain.set(parseSpiffeId(domain).trustDomain, splitDerCertificates(der));
  return {
    svid: {
      id,
      chain,
      privateKey,
      notAfter: Date.parse(leaf.validTo),
      certPem: chain.map(c => c.toString()).join(""),
      keyPem: privateKey.export({ format: "pem", type: "pkcs8" }).toString(),
    },
    bundles: { byTrustDomain, pem: [...byTrustDomain.values()].flat().map(c => c.toString()).join("") },
  };
}

export interface X509Source {
  /** The latest material, undefined before the first or after the SVID expired without a new one. */
  current(): X509Material | undefined;
  /** The current SVID; throws when there is none (no handshake or token can be made then). */
  svid(): X509Svid;
  /** Called with every new material (and undefined when the SVID is withdrawn); returns the unsubscribe. */
  subscribe(listener: (material: X509Material | undefined) => void): () => void;
  /** Takes a new answer from the Workload API. */
  update(material: X509Material): void;
  /** Resolves with the first material; rejects after `timeoutMs` with `describe()` in the message. */
  ready(timeoutMs: number, describe: () => string): Promise<X509Material>;
  close(): void;
}

export interface X509SourceOptions {
  /** Told when the SVID expires with no successor (new handshakes are refused from then on). */
  onExpired?: (svid: X509Svid) => void;
  now?: () => number;
}

export function createX509Source(options: X509SourceOptions = {}): X509Source {
  const now = options.now ?? Date.now;
  const listeners = new Set<(material: X509Material | undefined) => void>();
  let latest: X509Material | undefined;
  let expiry: NodeJS.Timeout | undefined;
  const publish = (material: X509Material | undefined) => {
    latest = material;
    for (const listener of listeners) listener(material);
  };
  const watchExpiry = (material: X509Material) => {
    clearTimeout(expiry);
    const wait = material.svid.notAfter - now();
    // setTimeout holds at most ~24.8 days; an SVID living longer is checked again then.
    expiry = setTimeout(() => {
      if (latest !== material) return;
      if (now() < material.svid.notAfter) return watchExpiry(material);
      options.onExpired?.(material.svid);
      publish(undefined);
    }, Math.min(Math.max(wait, 0), 2 ** 31 - 1));
    expiry.unref();
  };
  return {
    current: () => latest,
    svid() {
      if (!latest) throw new Error("no X.509 SVID (the SPIFFE Workload API has sent none, or it expired)");
      return latest.svid;
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    update(material) {
      publish(material);
      watchExpiry(material);
    },
    ready(timeoutMs, describe) {
      if (latest) return Promise.resolve(latest);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          unsubscribe();
          reject(new Error(`no X.509 SVID within ${timeoutMs} ms: ${describe()}`));
        }, timeoutMs);
        const unsubscribe = this.subscribe(material => {
          if (!material) return;
          clearTimeout(timer);
          unsubscribe();
          resolve(material);
        });
      });
    },
    close() {
      clearTimeout(expiry);
      listeners.clear();
    },
  };
}
