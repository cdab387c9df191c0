/**
 * Connection records: what the proxy learned when a Request went through it, kept until Close, so
 * that later calls and monitor events about the same connection can be rewritten the same way.
 * The interface only: memory/records.ts is the embedded default, redis/records.ts shares the records
 * across replicas.
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
