/**
 * Between grpc-js Metadata and the pipeline's text maps (lower-case keys, one value each). Binary
 * (`-bin`) entries are left out: no element reads or sets one.
 */
import { Metadata } from "@grpc/grpc-js";

/** Request metadata: the first value of each key, as the call context has always held it. */
export function firstTextValues(metadata: Metadata): Map<string, string> {
  const out = new Map<string, string>();
  for (const [key, value] of Object.entries(metadata.getMap())) {
    if (typeof value === "string") out.set(key.toLowerCase(), value);
  }
  return out;
}

/** Response metadata from a next hop: the last value of each key (the SDK's grpcmetadata reads `path` so). */
export function lastTextValues(metadata: Metadata | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (metadata === undefined) return out;
  for (const [key, values] of Object.entries(metadata.toJSON())) {
    const texts = values.filter((v): v is string => typeof v === "string");
    if (texts.length > 0) out.set(key.toLowerCase(), texts[texts.length - 1]!);
  }
  return out;
}

/** Entries grpc-js refuses (a key or value HTTP/2 cannot carry) are left out rather than failing the call. */
export function toGrpcMetadata(entries: ReadonlyMap<string, string>): Metadata {
  const metadata = new Metadata();
  for (const [key, value] of entries) {
    try {
      metadata.set(key, value);
    } catch {
      // not sendable: dropped
    }
  }
  return metadata;
}
