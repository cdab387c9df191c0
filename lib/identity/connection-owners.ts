/**
 * Which SPIFFE ID asked for which connection, as the SDK's authorize server keeps it
 * (spiffeIDConnectionMap): a Request records the caller's ID with the id of the caller's segment;
 * a failed Request forgets the caller's ids; a Close forgets the one id. MonitorConnections is then
 * allowed (the monitor service_connection policy) only when the selector names at least one
 * connection id the caller owns. Per process, as in the SDK.
 */
export interface ConnectionOwners {
  add(spiffeId: string, connectionId: string): void;
  /** After a failed Request: the SDK drops every id of that caller. */
  forgetCaller(spiffeId: string): void;
  remove(spiffeId: string, connectionId: string): void;
  /** service_connection: the caller owns at least one of `connectionIds`. */
  ownsAny(spiffeId: string, connectionIds: readonly string[]): boolean;
}

export function createConnectionOwners(): ConnectionOwners {
  const byId = new Map<string, Set<string>>();
  return {
    add(spiffeId, connectionId) {
      const ids = byId.get(spiffeId) ?? new Set<string>();
      ids.add(connectionId);
      byId.set(spiffeId, ids);
    },
    forgetCaller(spiffeId) {
      byId.delete(spiffeId);
    },
    remove(spiffeId, connectionId) {
      const ids = byId.get(spiffeId);
      ids?.delete(connectionId);
      if (ids?.size === 0) byId.delete(spiffeId);
    },
    ownsAny(spiffeId, connectionIds) {
      const ids = byId.get(spiffeId);
      return ids !== undefined && connectionIds.some(id => ids.has(id));
    },
  };
}
