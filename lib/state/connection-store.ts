/**
 * Connection records: what the proxy learned when a Request went through it, kept until Close, so
 * that later calls and monitor events about the same connection can be rewritten the same way.
 * One interface; the in-memory store is the embedded default (a Redis store shares it across
 * replicas).
 */
export interface ConnectionRecord {
  /** Connection id as the next hop returned it. */
  readonly id: string;
  /** host:port the connection was forwarded to. */
  readonly nextHop: string;
  /** The network service as the client asked for it, "service@domain". */
  readonly networkService: string;
  /** Path segment 1 as the client wrote it, "nsmgr@host:port". */
  readonly remoteNsm: string;
  /** The mechanism's dst_ip as the remote returned it, and what the proxy told the client instead. */
  readonly remoteDstIP?: string;
  readonly clientDstIP?: string;
  /** Epoch ms of the last successful Request. */
  readonly updatedAt: number;
}

export interface ConnectionStore {
  put(record: ConnectionRecord): Promise<void>;
  get(id: string): Promise<ConnectionRecord | undefined>;
  delete(id: string): Promise<void>;
  list(): Promise<ConnectionRecord[]>;
}

export function createMemoryConnectionStore(): ConnectionStore {
  const records = new Map<string, ConnectionRecord>();
  return {
    async put(record) {
      records.set(record.id, record);
    },
    async get(id) {
      return records.get(id);
    },
    async delete(id) {
      records.delete(id);
    },
    async list() {
      return [...records.values()];
    },
  };
}
