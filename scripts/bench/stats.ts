/** Small statistics and formatting helpers for the bench report. */

/** The p-th percentile (0..100) by nearest rank; NaN for no samples. */
export function percentile(samples: Float64Array, p: number): number {
  if (samples.length === 0) return NaN;
  const sorted = Float64Array.from(samples).sort();
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] as number;
}

/** Median of per-round figures: one noisy round (a GC pause, a neighbour's burst) does not move it. */
export function median(values: readonly number[]): number {
  const sorted = values.filter(v => !Number.isNaN(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

export function ratio(proxied: number, direct: number): number {
  return direct > 0 ? proxied / direct : NaN;
}

/** Rounds for display and JSON: 3 significant digits below 100, whole numbers above. */
export function round(value: number): number {
  if (!Number.isFinite(value)) return value;
  return Math.abs(value) >= 100 ? Math.round(value) : Number(value.toPrecision(3));
}

export const fmt = {
  rate: (v: number) => (Number.isFinite(v) ? String(Math.round(v)) : "n/a"),
  ms: (v: number) => (Number.isFinite(v) ? (v < 1 ? v.toFixed(3) : v < 10 ? v.toFixed(2) : v.toFixed(1)) : "n/a"),
  x: (v: number) => (Number.isFinite(v) ? `${v.toFixed(2)}x` : "n/a"),
  us: (v: number) => (Number.isFinite(v) ? String(Math.round(v)) : "n/a"),
};

/** A plain text table: first row is the header, columns padded to their widest cell. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  const line = (row: readonly string[]) => row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join("  ");
  const [header, ...body] = rows;
  if (!header) return "";
  return [line(header), widths.map(w => "-".repeat(w)).join("  "), ...body.map(line)].join("\n");
}
