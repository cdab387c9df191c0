/**
 * Following the Redis event log: one shared tail per store serves every follower. It is one XREAD
 * BLOCK loop on one dedicated connection (client name "pnsmgr-follow"), started with the first
 * follower, reading from the end of the log as it starts and handing each entry, in order, to every
 * follower whose filter it matches; it stops when the last follower leaves (a later follower starts
 * a new one). A follower joins the tail at its current cursor C and catches up on the main
 * connection: with `after` before C, it is first given the entries in (after, C] (XRANGE, paged),
 * then what the tail dispatched to it meanwhile, then live entries: no gap, no duplicate. Without
 * `after`, it starts at the log's newest position as read (XREVRANGE) once the tail runs. When the
 * tail's connection fails, every follower errors with UNAVAILABLE and the tail is gone; store close
 * completes every follower. So the store holds at most one follow connection, however many
 * followers there are.
 */
import { Observable, type Subscriber } from "rxjs";
import type { Redis } from "ioredis";
import { type EventEntry, type EventFilter, type FollowQuery, comparePositions, matchesFilter, parsePosition } from "../event-log.js";
import { PAGE, decodeEntry } from "./event-stream.js";
import type { RedisSession } from "./session.js";

/** How long one XREAD of the follow tail blocks before it looks again (also bounds shutdown). */
const BLOCK_MS = 1000;
/** The client name (CLIENT SETNAME) of the follow tail's connection; the other connections are "pnsmgr". */
export const FOLLOW_CONNECTION_NAME = "pnsmgr-follow";

/**
 * One follower of the shared tail. While it catches up (backlog, start position) the tail puts the
 * matching entries it dispatches in `buffer`; once live it hands them to the subscriber directly.
 */
interface Follower {
  readonly filter: EventFilter;
  readonly subscriber: Subscriber<EventEntry>;
  /** The tail's cursor when the follower joined: the tail dispatches it every entry after this. */
  from: string | undefined;
  /** Matching entries dispatched while catching up; undefined once live. */
  buffer: EventEntry[] | undefined;
  /** While set, entries at or before it are dropped (already emitted, or before the start). */
  skipThrough: string | undefined;
}

/** The one XREAD BLOCK loop of this store, on its own connection, shared by every follower. */
interface Tail {
  readonly client: Redis;
  readonly followers: Set<Follower>;
  /** The newest position read (the tail dispatches every entry after it); undefined until started. */
  cursor: string | undefined;
  /** Resolves once the cursor is set; rejects when the tail fails before that. */
  readonly started: Promise<void>;
  stopped: boolean;
}

/** The followers of one store's event log, and the tail that serves them. */
export class EventFollowers {
  /** The running tail; undefined while nobody follows (or once it failed: the next follower starts another). */
  private tail: Tail | undefined;

  constructor(private readonly session: RedisSession) {
    session.onClose(() => this.completeAll());
  }

  follow(query: FollowQuery): Observable<EventEntry> {
    return new Observable<EventEntry>(subscriber => {
      if (query.after !== undefined) parsePosition(query.after);
      if (this.session.closed) throw this.session.fail("follow events", new Error("store closed"));
      const t = this.tail ?? (this.tail = this.startTail());
      const follower: Follower = { filter: query, subscriber, from: t.cursor, buffer: [], skipThrough: undefined };
      t.followers.add(follower);
      this.catchUp(t, follower, query.after).catch((error: unknown) => {
        if (subscriber.closed) return;
        // The tail's own failure has already ended every follower; this is the backlog's (main).
        this.session.closed ? subscriber.complete() : subscriber.error(this.session.fail("follow events", error));
      });
      return () => this.leave(t, follower);
    });
  }

  private startTail(): Tail {
    const { session } = this;
    const client = session.open("follower", { connectionName: FOLLOW_CONNECTION_NAME, commandTimeout: BLOCK_MS + session.commandTimeoutMs });
    let markStarted!: () => void;
    let failStart!: (error: unknown) => void;
    const started = new Promise<void>((resolve, reject) => {
      markStarted = resolve;
      failStart = reject;
    });
    started.catch(() => {}); // the followers learn of the failure from the tail (failTail)
    const t: Tail = { client, followers: new Set(), cursor: undefined, started, stopped: false };
    this.runTail(t, markStarted).catch((error: unknown) => {
      failStart(error);
      if (!t.stopped) this.failTail(t, error);
    });
    return t;
  }

  /** The tail's loop: find the end of the log, then XREAD BLOCK from there and dispatch, until stopped. */
  private async runTail(t: Tail, markStarted: () => void): Promise<void> {
    const { client } = t;
    const { session } = this;
    await session.whenReady(client, session.connectTimeoutMs + session.commandTimeoutMs);
    const newest = (await client.xrevrange(session.keys.events, "+", "-", "COUNT", 1))[0]?.[0] ?? "0-0";
    if (t.stopped) return;
    let cursor: string = newest;
    t.cursor = cursor;
    for (const follower of t.followers) follower.from ??= cursor;
    markStarted();
    while (!t.stopped) {
      const batch = await client.xread("COUNT", PAGE, "BLOCK", BLOCK_MS, "STREAMS", session.keys.events, cursor);
      for (const [id, fields] of batch?.[0]?.[1] ?? []) {
        if (t.stopped) return;
        cursor = id;
        t.cursor = id;
        dispatch(t, decodeEntry(id, fields));
      }
    }
  }

  private stopTail(t: Tail): void {
    t.stopped = true;
    if (this.tail === t) this.tail = undefined;
    this.session.end(t.client);
  }

  /** The tail's connection failed: every follower errors with UNAVAILABLE (completes once closed). */
  private failTail(t: Tail, error: unknown): void {
    const failure = this.session.closed ? undefined : this.session.fail("follow events", error, t.client);
    this.stopTail(t);
    const followers = [...t.followers];
    t.followers.clear();
    for (const { subscriber } of followers) failure ? subscriber.error(failure) : subscriber.complete();
  }

  private leave(t: Tail, follower: Follower): void {
    t.followers.delete(follower);
    if (t.followers.size === 0 && !t.stopped) this.stopTail(t);
  }

  /** The store closes: the tail stops and every follower completes. */
  private completeAll(): void {
    const t = this.tail;
    if (!t) return;
    this.stopTail(t);
    const followers = [...t.followers];
    t.followers.clear();
    for (const { subscriber } of followers) subscriber.complete();
  }

  /**
   * Brings a follower that joined the tail at its cursor `from` up to it: the entries in (after, from]
   * (XRANGE on the main connection, paged), then those the tail dispatched meanwhile, then live.
   * Without `after`, the start is the end of the log as read once the tail has started (at or after
   * `from`): dispatched entries up to it are dropped.
   */
  private async catchUp(t: Tail, follower: Follower, after: string | undefined): Promise<void> {
    const { subscriber, filter } = follower;
    const { main, keys } = this.session;
    await t.started;
    if (subscriber.closed) return;
    const from = follower.from!;
    let through: string;
    if (after === undefined) {
      through = (await main.xrevrange(keys.events, "+", "-", "COUNT", 1))[0]?.[0] ?? "0-0";
    } else if (comparePositions(after, from) >= 0) {
      through = after; // the tail may still be behind `after`: skip up to it
    } else {
      through = from;
      let start = `(${after}`;
      for (;;) {
        const page = await main.xrange(keys.events, start, from, "COUNT", PAGE);
        for (const [id, fields] of page) {
          if (subscriber.closed) return;
          const entry = decodeEntry(id, fields);
          if (matchesFilter(entry, filter)) subscriber.next(entry);
        }
        const last = page.at(-1)?.[0];
        if (page.length < PAGE || last === undefined || last === from) break;
        start = `(${last}`;
      }
    }
    if (subscriber.closed) return;
    // Synchronously from here: no dispatch runs until the follower is live.
    const buffered = follower.buffer ?? [];
    follower.buffer = undefined;
    follower.skipThrough = through;
    for (const entry of buffered) {
      if (subscriber.closed) return;
      if (comparePositions(entry.position, through) > 0) subscriber.next(entry);
    }
  }
}

/** Hands an entry (in log order) to every follower of the tail whose filter it matches. */
function dispatch(t: Tail, entry: EventEntry): void {
  for (const follower of t.followers) {
    if (t.stopped) return;
    if (follower.subscriber.closed) continue;
    if (follower.buffer) {
      if (matchesFilter(entry, follower.filter)) follower.buffer.push(entry);
      continue;
    }
    if (follower.skipThrough !== undefined) {
      if (comparePositions(entry.position, follower.skipThrough) <= 0) continue;
      follower.skipThrough = undefined;
    }
    if (matchesFilter(entry, follower.filter)) follower.subscriber.next(entry);
  }
}
