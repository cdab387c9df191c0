/**
 * The Workload API sends certificate chains and bundles as DER certificates laid end to end. Each is
 * an ASN.1 SEQUENCE, so its length is in its header: split them by reading that length.
 */
import { X509Certificate } from "node:crypto";

export function splitDerCertificates(bytes: Uint8Array): X509Certificate[] {
  const out: X509Certificate[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    const length = derElementLength(bytes, offset);
    out.push(new X509Certificate(Buffer.from(bytes.subarray(offset, offset + length))));
    offset += length;
  }
  return out;
}

/** Total length (header + content) of the DER SEQUENCE starting at `offset`. */
function derElementLength(bytes: Uint8Array, offset: number): number {
  if (bytes[offset] !== 0x30) throw new Error(`not a DER certificate at byte ${offset}`);
  const first = bytes[offset + 1];
  if (first === undefined) throw new Error("truncated DER certificate");
  if (first < 0x80) return 2 + first;
  const count = first & 0x7f;
  if (count === 0 || count > 4) throw new Error(`unsupported DER length at byte ${offset}`);
  let length = 0;
  for (let i = 0; i < count; i++) {
    const byte = bytes[offset + 2 + i];
    if (byte === undefined) throw new Error("truncated DER certificate");
    length = length * 256 + byte;
  }
  const total = 2 + count + length;
  if (offset + total > bytes.length) throw new Error("truncated DER certificate");
  return total;
}
