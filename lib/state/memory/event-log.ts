/**
 * The embedded event log: an array in position order, trimmed exactly on every append (the memory
 * log does what the Redis log's "exact" mode does) and to about maxBytes. Payloads are copied through
 * JSON, so a stored entry looks exactly like one read back from Redis. Followers are a Subject fed by
 * each append, after the entry is in place.
 */
import { Observable, Subject } from "rxjs";
import {
  type EventEntry,
  type EventInput,
  type EventLog,
  type EventLogBounds,
  type FollowQuery,
  type Position,
  DEFAULT_READ_LIMIT,
  checkBounds,
  checkEvent,
  checkQuery,
  defaultEventLogBounds,
  encodePayload,
  formatPosition,
  matchesFilter,
  parsePosition,
} from "../event-log.js";

/** The memory log's maxBytes unless one is given (PNSMGR_EVENTS_MAX_BYTES). */
export const DEFAULT_MEMORY_LOG_BYTES = 64 * 1024 * 1024;

export interface MemoryEventLogOptions {
  readonly bounds?: Partial<EventLogBounds>;
  /** Clock for positions and age trimming (tests). */
  readonly now?: () => number;
}

/**
 * A memory log's synchronous append (internal, for memory/feeds.ts): validates and appends `event`,
 * trims, calls `beforeNotify` with the entry, then hands the entry to followers; all in one
 * synchronous step, so a caller can make the append atomic with its own state.
 */
export type MemoryAppendNow = (event: EventInput, beforeNotify?: (entry: EventEntry) => void) => EventEntry;

const memoryAppends = new WeakMap<EventLog, MemoryAppendNow>();

/** The synchronous append of a log made by createMemoryEventLog; undefined for any other log. */
export function memoryAppendNow(log: EventLog): MemoryAppendNow | undefined {
  return memoryAppends.get(log);
}

/** The entries, their parsed positions and sizes, index for index, kept within the bounds. */
class MemoryEntries {
  readonly entries: EventEntry[] = [];
  // Finding where "after P" starts is a binary search over these (a follow or read from a position
  // must not scan and re-parse the whole log).
  readonly positions: Position[] = [];
  private readonly sizes: number[] = [];
  private bytes = 0;
  private last: Position = { ms: 0, seq: 0 };
  trimmedThrough = "0-0";

  constructor(
    private readonly bounds: EventLogBounds,
    private readonly now: () => number,
  ) {}

  /** Validates the event, appends it as an entry at the next position and trims. */
  add(event: EventInput): EventEntry {
    checkEvent(event);
    const payloadText = encodePayload(event.payload);
    const ms = Math.max(this.now(), this.last.ms);
    this.last = ms === this.last.ms ? { ms, seq: this.last.seq + 1 } : { ms, seq: 0 };
    const entry: EventEntry = {
      position: formatPosition(this.last),
      connectionIds: [...event.connectionIds],
      peer: event.peer,
      type: event.type,
      payload: JSON.parse(payloadText) as unknown,
      at: event.at,
      ...(event.feed !== undefined ? { feed: event.feed } : {}),
      ...(event.wire !== undefined ? { wire: event.wire } : {}),
      ...(event.end !== undefined ? { end: { ...event.end } } : {}),
    };
    this.entries.push(entry);
    // Strings count twice (UTF-16), the decoded copy a subscriber side may keep once more.
    const endLength = event.end ? event.end.reason.length + event.end.hop.length + (event.end.detail?.length ?? 0) : 0;
    const size = 4 * ((event.wire?.length ?? 0) + payloadText.length + endLength) + 256;
    this.sizes.push(size);
    this.bytes += size;
    this.positions.push(this.last);
    this.trim();
    return entry;
  }

  /** The index of the first entry after `position` (entries.length when there is none). */
  firstAfter(position: string | undefined): number {
    if (position === undefined) return 0;
    const { ms, seq } = parsePosition(position);
    let low = 0;
    let high = this.positions.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      const at = this.positions[middle]!;
      if (at.ms < ms || (at.ms === ms && at.seq <= seq)) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  private trim(): void {
    const { maxLen, maxBytes, maxAgeMs } = this.bounds;
    this.drop(this.entries.length - maxLen);
    if (maxBytes !== undefined && this.bytes > maxBytes) {
      let over = 0;
      for (let left = this.bytes; over < this.entries.length - 1 && left > maxBytes; over++) left -= this.sizes[over]!;
      this.drop(over);
    }
    const minMs = this.now() - maxAgeMs;
    let old = 0;
    while (old < this.positions.length && this.positions[old]!.ms < minMs) old++;
    this.drop(old);
  }

  private drop(count: number): void {
    if (count <= 0) return;
    this.trimmedThrough = this.entries[count - 1]!.position;
    this.entries.splice(0, count);
    for (const size of this.sizes.splice(0, count)) this.bytes -= size;
    this.positions.splice(0, count);
  }
}

export function createMemoryEventLog(options: MemoryEventLogOptions = {}): EventLog & { close(): void } {
  const bounds = { ...defaultEventLogBounds, maxBytes: DEFAULT_MEMORY_LOG_BYTES, ...options.bounds };
  checkBounds(bounds);
  const store = new MemoryEntries(bounds, options.now ?? Date.now);
  const appended = new Subject<EventEntry>();

  const appendNow: MemoryAppendNow = (event, beforeNotify) => {
    const entry = store.add(event);
    beforeNotify?.(entry);
    appended.next(entry);
    return entry;
  };

  const log: EventLog & { close(): void } = {
    async append(event) {
      return appendNow(event).position;
    },
    async read(query = {}) {
      checkQuery(query);
      const limit = query.limit ?? DEFAULT_READ_LIMIT;
      const out: EventEntry[] = [];
      for (let i = store.firstAfter(query.after); i < store.entries.length; i++) {
        const ms = store.positions[i]!.ms;
        if (query.to !== undefined && ms > query.to) break;
        if (query.from !== undefined && ms < query.from) continue;
        if (!matchesFilter(store.entries[i]!, query)) continue;
        out.push(store.entries[i]!);
        if (out.length >= limit) break;
      }
      return out;
    },
    follow: (query = {}) => follow(store, appended, query),
    async last() {
      return store.entries.at(-1)?.position;
    },
    async trimmedThrough() {
      return store.trimmedThrough;
    },
    close() {
      appended.complete();
    },
  };
  memoryAppends.set(log, appendNow);
  return log;
}

/** The entries after `query.after` (if given), then those appended from now on, matching the filter. */
function follow(store: MemoryEntries, appended: Subject<EventEntry>, query: FollowQuery): Observable<EventEntry> {
  return new Observable<EventEntry>(subscriber => {
    if (query.after !== undefined) parsePosition(query.after);
    // Synchronous, so no other append runs between the backlog and the live subscription; an
    // append made by a subscriber while the backlog is replayed is queued behind it.
    const backlog = query.after === undefined ? [] : store.entries.slice(store.firstAfter(query.after));
    let replaying = true;
    const emit = (entry: EventEntry) => {
      if (!subscriber.closed && matchesFilter(entry, query)) subscriber.next(entry);
    };
    const live = appended.subscribe({
      next: entry => (replaying ? backlog.push(entry) : emit(entry)),
      complete: () => subscriber.complete(),
    });
    for (let i = 0; i < backlog.length && !subscriber.closed; i++) emit(backlog[i]!);
    replaying = false;
    return live;
  });
}
