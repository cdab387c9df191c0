/** Whether two connections carry the same data (proto3 defaults and map key order do not count). */
import { Connection } from "../../../../generated/nsm/connection.js";

export function sameConnection(a: Connection, b: Connection): boolean {
  return canonical(Connection.toJSON(a)) === canonical(Connection.toJSON(b));
}

function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === "object" && !Array.isArray(v) ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))) : v,
  );
}
