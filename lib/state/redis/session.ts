/**
 * The Redis store's connections and how a call on them fails; every unit of the store (records,
 * event log, feeds, replicas) runs its commands through one session.
 *
 * Failure behaviour: no offline queue and no retry of commands across reconnects, so a call made
 * while Redis is unreachable fails at once, a call in flight when the connection drops fails when it
 * drops, and a call with no reply fails after commandTimeoutMs: always ProxyError UNAVAILABLE
 * "state store (redis …): …". Reconnects are tried every 100-250 ms, so calls succeed again within
 * a fraction of a second of Redis returning. With Sentinel, the failover detector follows
 * +switch-master, and a READONLY reply (talking to a demoted master) forces a reconnect.
 *
 * Durability: with waitReplicas > 0, a connection-record write (seed or v1, put or delete) is acknowledged only
 * after WAIT reports that many replicas have it; otherwise the call fails with UNAVAILABLE (the write
 * may still be on the master). That is what lets an acknowledged record survive the master being
 * killed and a replica promoted. The price: every record write costs a replica round trip, and while
 * no replica is connected, Requests fail after waitTimeoutMs instead of being accepted. WAIT is not
 * consensus: a partition can still lose acknowledged writes (Jepsen); with one replica per master
 * and Sentinel it covers the crash of the master. Routes and events are written without WAIT (a
 * route is learned again on the next Find/Register; losing the tail of the event log on failover is
 * accepted). Feed specs, touch times and snapshots are written without WAIT too.
 */
import { type ChainableCommander, Redis, type RedisOptions } from "ioredis";
import { ProxyError, unavailable } from "../../pipeline/errors.js";
import type { Logger } from "../../log.js";
import { observer } from "../../observability/observer.js";
import type { RedisStateOptions } from "../state-store.js";
import { SentinelConnectorKeepingErrors, StandaloneConnectorKeepingErrors } from "./connectors.js";
import { type RedisKeys, redisKeys } from "./keys.js";
import { describeRedis, wantsTls } from "./describe.js";
import { redisSecurityOptions } from "./security.js";

export class RedisSession {
  readonly description: string;
  readonly keys: RedisKeys;
  readonly connectTimeoutMs: number;
  readonly commandTimeoutMs: number;
  /** The connection of every command but durable writes and the follow tail's XREAD. */
  readonly main: Redis;
  /** WAIT blocks the connection it runs on, so durable writes get their own (reads are not held up). */
  private readonly durable: Redis | undefined;
  private readonly lastError = new WeakMap<Redis, string>();
  private readonly ending = new WeakSet<Redis>();
  private readonly closers: (() => void)[] = [];
  private isClosed = false;

  constructor(
    private readonly options: RedisStateOptions,
    readonly log: Logger,
  ) {
    this.description = describeRedis(options);
    this.keys = redisKeys(options.prefix);
    this.connectTimeoutMs = options.connectTimeoutMs ?? 1000;
    this.commandTimeoutMs = options.commandTimeoutMs ?? 1000;
    const clientOptions = redisClientOptions(options, this.connectTimeoutMs, this.commandTimeoutMs);
    this.main = this.watch(options.url !== undefined && !options.sentinels ? new Redis(options.url, clientOptions) : new Redis(clientOptions), "main");
    this.durable =
      options.waitReplicas > 0 ? this.watch(this.main.duplicate({ commandTimeout: options.waitTimeoutMs + this.commandTimeoutMs }), "durable") : undefined;
  }

  /** Resolves once every connection is ready; otherwise ends them and fails with UNAVAILABLE. */
  async connect(): Promise<void> {
    const clients = this.clients();
    try {
      await Promise.all(clients.map(client => this.whenReady(client, this.options.startupTimeoutMs ?? 10_000)));
    } catch (error: unknown) {
      for (const client of clients) this.end(client);
      throw this.fail("connect", error);
    }
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** Runs `closer` when the session closes, after it is marked closed and before its connections end. */
  onClose(closer: () => void): void {
    this.closers.push(closer);
  }

  /** Marks the session closed (calls fail with "store closed"), runs the closers, ends the connections. */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    for (const closer of this.closers) closer();
    for (const client of this.clients()) this.end(client);
  }

  /** Another connection like main, watched like it (its loss and return are logged as `role`). */
  open(role: string, overrides: Partial<RedisOptions>): Redis {
    return this.watch(this.main.duplicate(overrides), role);
  }

  /** Ends a connection on purpose (its close is not logged as a loss). */
  end(client: Redis): void {
    this.ending.add(client);
    client.disconnect();
  }

  /** The error as UNAVAILABLE "state store (…): what: …", saying why when the connection is down. */
  fail(what: string, error: unknown, client: Redis = this.main): ProxyError {
    if (error instanceof ProxyError) return error;
    let message = error instanceof Error ? error.message : String(error);
    if (this.isClosed) message = "store closed";
    else if (client.status !== "ready") message = `not connected (${client.status}${this.lastError.has(client) ? `: ${this.lastError.get(client)}` : ""}): ${message}`;
    return unavailable(`state store (${this.description}): ${what}: ${message}`, error);
  }

  /** Runs a command (timed for the observer); its failure is UNAVAILABLE (fail). */
  async guard<T>(what: string, call: () => Promise<T>, client: Redis = this.main): Promise<T> {
    const watched = observer().active ? performance.now() : undefined;
    try {
      const result = await call();
      if (watched !== undefined) observer().stateCommand((performance.now() - watched) / 1000, true);
      return result;
    } catch (error: unknown) {
      if (watched !== undefined) observer().stateCommand((performance.now() - watched) / 1000, false);
      throw this.fail(what, error, client);
    }
  }

  /**
   * A connection-record write. With waitReplicas, the write and its WAIT go in one pipeline: one
   * round trip, and the write is acknowledged only once that many replicas have it.
   */
  async durableWrite(what: string, add: (pipeline: ChainableCommander) => ChainableCommander): Promise<void> {
    const { durable, options } = this;
    const client = durable ?? this.main;
    await this.guard(
      what,
      async () => {
        const pipeline = add(client.pipeline());
        if (durable) pipeline.wait(options.waitReplicas, options.waitTimeoutMs);
        const results = (await pipeline.exec()) ?? [];
        for (const [error] of results) if (error) throw error;
        if (!durable) return;
        const acked = Number(results.at(-1)?.[1] ?? 0);
        if (acked < options.waitReplicas) {
          throw new Error(
            `only ${acked} of ${options.waitReplicas} replica(s) acknowledged within ${options.waitTimeoutMs} ms (the write is on the master but may be lost on failover)`,
          );
        }
      },
      client,
    );
  }

  /** Resolves when the connection is ready; rejects when it ends or is not ready within timeoutMs. */
  whenReady(client: Redis, timeoutMs: number): Promise<void> {
    if (client.status === "ready") return Promise.resolve();
    const { lastError } = this;
    return new Promise((resolve, reject) => {
      const done = (error?: Error) => {
        clearTimeout(timer);
        client.off("ready", onReady);
        client.off("end", onEnd);
        error ? reject(error) : resolve();
      };
      const onReady = () => done();
      const onEnd = () => done(new Error("connection ended"));
      const timer = setTimeout(() => done(new Error(`not reachable within ${timeoutMs} ms${lastError.has(client) ? ` (${lastError.get(client)})` : ""}`)), timeoutMs);
      client.once("ready", onReady);
      client.once("end", onEnd);
    });
  }

  private clients(): Redis[] {
    return [this.main, ...(this.durable ? [this.durable] : [])];
  }

  /** Logs a connection's loss and return (once per outage, not per retry). */
  private watch(client: Redis, role: string): Redis {
    let wasReady = false;
    let lost = false;
    client.on("error", (error: Error) => this.lastError.set(client, error.message));
    client.on("ready", () => {
      if (lost) this.log.info("state store reconnected", { store: this.description, connection: role });
      wasReady = true;
      lost = false;
    });
    client.on("close", () => {
      if (!wasReady || lost || this.isClosed || this.ending.has(client)) return;
      lost = true;
      this.log.warn("state store connection lost", { store: this.description, connection: role, error: this.lastError.get(client) ?? "closed" });
    });
    return client;
  }
}

/** ioredis options of the main connection (the others are duplicates of it). */
function redisClientOptions(options: RedisStateOptions, connectTimeoutMs: number, commandTimeoutMs: number): RedisOptions {
  return {
    connectionName: "pnsmgr",
    // Connections keep an 'error' listener for their whole life (ioredis only takes the first one).
    Connector: (options.sentinels ? SentinelConnectorKeepingErrors : StandaloneConnectorKeepingErrors) as unknown as RedisOptions["Connector"],
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    connectTimeout: connectTimeoutMs,
    commandTimeout: commandTimeoutMs,
    retryStrategy: times => Math.min(100 + 50 * (times - 1), 250),
    reconnectOnError: error => error.message.startsWith("READONLY"),
    ...(options.sentinels
      ? {
          sentinels: options.sentinels.map(s => ({ host: s.host, port: s.port })),
          name: options.masterName,
          role: "master" as const,
          failoverDetector: true,
          sentinelRetryStrategy: (times: number) => Math.min(100 + 50 * (times - 1), 250),
        }
      : {}),
    ...redisSecurityOptions(options.security ?? {}, options.sentinels !== undefined, wantsTls(options)),
  };
}
