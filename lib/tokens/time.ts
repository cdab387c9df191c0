/**
 * Token expiry times in the two forms NSM uses: google.protobuf.Timestamp on path segments, and
 * RFC 3339 text (Go's time.RFC3339Nano) in the `nsm-client-token-expires` metadata. Times are epoch
 * milliseconds inside pnsmgr; sub-millisecond digits of a peer's text are dropped.
 */
import type { Timestamp } from "../../generated/nsm/google/protobuf/timestamp.js";

export function toTimestamp(ms: number): Timestamp {
  const seconds = Math.floor(ms / 1000);
  return { seconds: String(seconds), nanos: Math.round(ms - seconds * 1000) * 1_000_000 };
}

/** Epoch ms of a Timestamp; undefined when it is missing or not a number. */
export function timestampMs(ts: Timestamp | undefined): number | undefined {
  if (!ts) return undefined;
  const seconds = Number(ts.seconds);
  if (!Number.isFinite(seconds) || !Number.isFinite(ts.nanos)) return undefined;
  return seconds * 1000 + Math.floor(ts.nanos / 1_000_000);
}

/** Go's RFC3339Nano in UTC: "2024-05-01T10:00:00.5Z" (trailing zeros of the fraction dropped). */
export function formatRfc3339Nano(ms: number): string {
  const iso = new Date(ms).toISOString();
  return iso.replace(/\.(\d*?)0*Z$/, (_, digits: string) => (digits ? `.${digits}Z` : "Z"));
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

/** Parses RFC 3339 text with any fraction (up to nanoseconds) and a Z or ±hh:mm offset; undefined if malformed. */
export function parseRfc3339(text: string): number | undefined {
  const m = RFC3339.exec(text);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, fraction, zulu, sign, oh, om] = m;
  const base = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
  if (!Number.isFinite(base) || Number(mo) > 12 || Number(d) > 31 || Number(h) > 23 || Number(mi) > 59 || Number(s) > 60) return undefined;
  const ms = fraction ? Number(fraction.padEnd(9, "0").slice(0, 3)) : 0;
  const offset = zulu ? 0 : (sign === "-" ? -1 : 1) * (Number(oh) * 60 + Number(om)) * 60_000;
  return base + ms - offset;
}
